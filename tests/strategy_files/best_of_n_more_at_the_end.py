"""An unsafe edit of best-of-n: one more instance after the rest. Replay must catch it."""

from workflows.strategies.best_of_n import BestOfNStrategy


class MoreBestOfNStrategy(BestOfNStrategy):
    NAME = "best-of-n"

    async def execute(self, prompt, base_branch, ctx):
        results = await super().execute(prompt, base_branch, ctx)
        await ctx.wait(await ctx.run({"prompt": "and then", "base_branch": base_branch}, key=ctx.key("after")))
        return results
