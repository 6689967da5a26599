"""Strategies composed as child workflows: best-of-n twice (two independent tries, the same
strategy composed twice in one run), then a round of iterative refinement on the better winner."""

import asyncio

from workflows import InstanceResult, Strategy


class ComposedStrategy(Strategy):
    NAME = "composed"

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        # Each try's own wording: their winners differ, and so do their scores.
        tries = [ctx.run_strategy("best-of-n", f"{prompt}\n\n(Try {i}.)", base_branch, params={"n": 2}, key=ctx.key("try", i)) for i in (1, 2)]
        winners = [results[0] for results in await asyncio.gather(*tries)]
        best = max(winners, key=lambda r: r.metrics.get("score", 0))
        return await ctx.run_strategy("iterative", prompt, best.branch_name, params={"iterations": 1}, key=ctx.key("refine"))
