"""An unsafe edit of best-of-n: a child strategy first. Replay must catch it."""

from workflows.strategies.best_of_n import BestOfNStrategy


class ChildFirstBestOfNStrategy(BestOfNStrategy):
    NAME = "best-of-n"

    async def execute(self, prompt, base_branch, ctx):
        await ctx.run_strategy("simple", prompt, base_branch, key="first")
        return await super().execute(prompt, base_branch, ctx)
