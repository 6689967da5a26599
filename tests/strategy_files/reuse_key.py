"""A strategy with a bug a user can make: one key for two different tasks."""

from workflows import Strategy


class ReuseKeyStrategy(Strategy):
    async def execute(self, prompt, base_branch, ctx):
        await ctx.run({"prompt": prompt, "base_branch": base_branch}, key="same")
        await ctx.run({"prompt": prompt + " (again)", "base_branch": base_branch}, key="same")
        return []
