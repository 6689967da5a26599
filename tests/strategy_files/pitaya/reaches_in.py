"""A strategy written for Pitaya that reaches into ctx's private attributes: it tolerates the
orchestrator being absent where it says so (as Pitaya's pr_review does), then asks for Pitaya's
private run id, which Orchard's ctx does not have."""

# ruff: noqa: I001, UP006, UP035, UP045  (Pitaya's idioms kept: its import lines one for one, typing.List and Optional)

from pathlib import Path
from typing import List

from workflows import InstanceResult, Strategy
from workflows import StrategyContext


class ReachesInStrategy(Strategy):
    NAME = "pitaya-reaches-in"

    async def execute(self, prompt: str, base_branch: str, ctx: StrategyContext) -> List[InstanceResult]:
        first = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key=ctx.key("first")))
        results_dir = getattr(getattr(ctx, "_orchestrator", None), "results_dir", Path("./results"))
        try:
            run_id = ctx._orchestrator.state_manager.current_state.run_id
        except Exception:
            run_id = None
        first.metadata["results_dir"] = str(results_dir)
        first.metadata["run_id"] = run_id
        first.metadata["execution"] = ctx._strategy_execution_id
        return [first]
