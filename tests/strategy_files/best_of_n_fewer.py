"""An unsafe edit of best-of-n: it runs one candidate and scores none. Replay must catch it."""

from workflows.strategies.best_of_n import BestOfNStrategy


class FewerBestOfNStrategy(BestOfNStrategy):
    NAME = "best-of-n"

    async def execute(self, prompt, base_branch, ctx):
        return [await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key=ctx.key("candidate", 1)))]
