"""The shape of Pitaya's built-ins (best_of_n.py, scoring.py): `name` a property, a config dataclass
with `validate()`, a helper strategy run in the same run through `set_config_overrides` and its
`execute`, `TaskFailed` caught for its `failure.result`, `NoViableCandidates`, `ctx.rand()` to break
ties, results annotated in `metrics` and `metadata`. Pitaya's import lines mapped to workflows."""

# ruff: noqa: I001, UP006, UP035, UP045  (Pitaya's idioms kept: its import lines one for one, typing.List and Optional)

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from workflows import InstanceResult
from workflows import StrategyError
from workflows import Strategy, StrategyConfig

if TYPE_CHECKING:
    from workflows import StrategyContext

logger = logging.getLogger(__name__)


@dataclass
class GradeConfig(StrategyConfig):
    key_prefix: str = "cand"
    grader_model: str = ""


class GradeStrategy(Strategy):
    """Generate one candidate, then grade it read-only; a failed candidate is returned as it failed."""

    @property
    def name(self) -> str:
        return "pitaya-grade"

    def get_config_class(self) -> type[StrategyConfig]:
        return GradeConfig

    async def execute(self, prompt: str, base_branch: str, ctx: "StrategyContext") -> List[InstanceResult]:
        cfg: GradeConfig = self.create_config()  # type: ignore
        try:
            gen = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch, "model": cfg.model},
                                               key=ctx.key(cfg.key_prefix, "gen")))
        except Exception as e:
            from workflows import TaskFailed

            if isinstance(e, TaskFailed) and e.failure.result is not None:
                return [e.failure.result]
            raise
        grade = await ctx.wait(await ctx.run({"prompt": 'Grade it: {"score": N}', "base_branch": gen.branch_name or base_branch,
                                              "model": cfg.grader_model or cfg.model, "import_policy": "never"},
                                             key=ctx.key(cfg.key_prefix, "grade")))
        gen.metrics["score"] = float(grade.final_message.split(":")[1].strip(" }")) if grade.final_message else 0.0
        return [gen]


@dataclass
class RankedConfig(StrategyConfig):
    n: int = 3
    tie_breaker: str = "first"
    require_min_success: int = 1

    def validate(self) -> None:
        super().validate()
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.tie_breaker not in ("first", "random"):
            raise ValueError("tie_breaker must be 'first' or 'random'")


class RankedStrategy(Strategy):
    @property
    def name(self) -> str:
        return "pitaya-ranked"

    def get_config_class(self) -> type[StrategyConfig]:
        return RankedConfig

    async def execute(self, prompt: str, base_branch: str, ctx: "StrategyContext") -> List[InstanceResult]:
        if not (prompt or "").strip():
            raise StrategyError(f"{self.name}: prompt is required (non-empty)")
        cfg: RankedConfig = self.create_config()  # type: ignore
        logger.info(f"{self.name} starting with n={cfg.n}")

        async def candidate(idx: int) -> List[InstanceResult]:
            grading = GradeStrategy()
            overrides: Dict[str, Any] = {"model": cfg.model, "key_prefix": f"cand{idx + 1}"}
            grading.set_config_overrides(overrides)
            results = await grading.execute(prompt, base_branch, ctx)
            results[0].metrics["ranked_index"] = idx + 1
            return results

        gathered = await asyncio.gather(*(candidate(i) for i in range(cfg.n)), return_exceptions=True)
        candidates = [r for res in gathered if isinstance(res, list) for r in res]
        successful = [r for r in candidates if r.success]
        if len(successful) < max(1, cfg.require_min_success):
            from workflows import NoViableCandidates

            raise NoViableCandidates(f"{len(successful)} of {cfg.n} candidates succeeded; {cfg.require_min_success} required")
        best = max(r.metrics.get("score", 0.0) for r in successful)
        top = [r for r in successful if r.metrics.get("score", 0.0) == best]
        selected: Optional[InstanceResult] = top[0]
        if len(top) > 1 and cfg.tie_breaker == "random":
            selected = top[min(int(ctx.rand() * len(top)), len(top) - 1)]
        assert selected is not None
        selected.metrics["selected"] = True
        selected.metadata["picked_by"] = self.name
        return [selected]


STRATEGY = RankedStrategy
