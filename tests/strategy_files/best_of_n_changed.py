"""An unsafe edit of best-of-n: it schedules an extra instance first. Replay must catch it."""

from workflows.strategies.best_of_n import BestOfNStrategy


class ChangedBestOfNStrategy(BestOfNStrategy):
    NAME = "best-of-n"

    async def execute(self, prompt, base_branch, ctx):
        await ctx.wait(await ctx.run({"prompt": "warm up", "base_branch": base_branch}, key=ctx.key("warmup")))
        return await super().execute(prompt, base_branch, ctx)
