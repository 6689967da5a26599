"""`best-of-n`: n candidates, each verified and scored by a read-only agent; the best one wins.

With `approve`, a person confirms the winner or picks another candidate (`orchard answer RUN N`)
before the run ends; with `approve_timeout` the scored winner stands when nobody answers in time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from workflows.sdk.context import RUN_INSTANCES_LIMIT, Context, Handle
from workflows.sdk.errors import InstanceFailed, StrategyError
from workflows.sdk.models import InstanceResult, Selection
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.strategies.read_only_agent import JSON_REQUEST, READ_ONLY, agent_overrides, ask, json_objects

DIVERSITY_HINTS = (
    "Favor the simplest correct change.",
    "Prioritize robustness: handle edge cases and errors explicitly.",
    "Optimize for readability: clear names, small functions.",
    "Keep performance in mind and avoid needless work.",
    "Back the change with tests where the project has them.",
    "Follow the existing conventions of the codebase closely.",
)


@dataclass
class BestOfNConfig(StrategyConfig):
    n: int = 5
    scorer_prompt: str = ""
    scorer_model: str = ""
    scorer_plugin: str = ""
    scorer_agent_command: str = ""
    score_scale: int = 10
    score_attempts: int = 2
    verify: str = ""
    verify_timeout: float = 1800.0
    tie_break: Literal["first", "random"] = "first"
    require_min_success: int = 1
    diversity_hints: bool = True
    approve: bool = False
    approve_timeout: float = 0.0
    """Seconds to wait for the approval; 0 waits as long as it takes."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be at least 1")
        asked = self.n * (1 + max(self.score_attempts, 1))  # each candidate, and each scorer it may need
        if asked > RUN_INSTANCES_LIMIT:
            raise ValueError(f"n={self.n:,} may ask for {asked:,} instances (each candidate and up to {self.score_attempts} scorer attempts), "
                             f"past the {RUN_INSTANCES_LIMIT:,} one run takes: n is at most {RUN_INSTANCES_LIMIT // (1 + max(self.score_attempts, 1)):,} "
                             f"with score_attempts={self.score_attempts}")
        if not 0 <= self.require_min_success <= self.n:
            raise ValueError("require_min_success must be between 0 and n")
        if self.score_scale < 1 or self.score_attempts < 1:
            raise ValueError("score_scale and score_attempts must be at least 1")
        if self.approve_timeout < 0:
            raise ValueError("approve_timeout must be 0 (wait as long as it takes) or a number of seconds")


def parse_score(text: str | None, scale: int) -> tuple[float, str] | None:
    """The scorer's one JSON object -> (score clamped to 0..scale, rationale); None if unusable."""
    for data in json_objects(text):
        if isinstance(data.get("score"), (int, float)) and not isinstance(data["score"], bool):
            score = min(max(float(data["score"]), 0.0), float(scale))
            return score, str(data.get("rationale") or data.get("reason") or "")
    return None


class BestOfNStrategy(Strategy[BestOfNConfig]):
    def get_config_class(self) -> type[BestOfNConfig]:
        return BestOfNConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        handles: list[Handle] = []
        for i in range(cfg.n):
            text = prompt
            if cfg.diversity_hints and cfg.n > 1:
                text = f"{prompt}\n\nApproach hint for this attempt: {DIVERSITY_HINTS[i % len(DIVERSITY_HINTS)]}"
            task = {"prompt": text, "base_branch": base_branch, "model": cfg.model}
            handles.append(await ctx.run(task, key=ctx.key("candidate", i + 1)))

        candidates = list(await asyncio.gather(*(self._evaluate(ctx, cfg, prompt, i, h) for i, h in enumerate(handles))))
        succeeded = [c for c in candidates if c.success]
        if len(succeeded) < cfg.require_min_success:
            raise StrategyError(
                f"only {len(succeeded)} of {cfg.n} candidates succeeded; require_min_success={cfg.require_min_success}"
            )
        ranked = self._select(ctx, cfg, candidates)
        return await self._approve(ctx, cfg, ranked) if cfg.approve else ranked

    async def _evaluate(self, ctx: Context, cfg: BestOfNConfig, prompt: str, i: int, handle: Handle) -> InstanceResult:
        try:
            result = await ctx.wait(handle)
        except InstanceFailed as failed:
            failed.result.select(candidate=i + 1)
            return failed.result
        result.select(candidate=i + 1)
        if not result.has_changes or not result.branch_name:
            result.select(ineligible="no changes to score")
            return result
        if cfg.verify:
            ctx.phase = "verifying"
            outcome = await ctx.verify(result, cfg.verify, cfg.verify_timeout)
            outcome.record(result)
            if not outcome.passed:
                result.select(ineligible=outcome.failure)
                return result
        ctx.phase = "scoring"
        scored = await self._score(ctx, cfg, prompt, i, result)
        if scored is None:
            result.select(ineligible="the scorer gave no usable score")
        else:
            result.metrics["score"] = scored[0]
            result.select(score_rationale=scored[1])
            ctx.report(result.key, score=scored[0])
        return result

    async def _score(self, ctx: Context, cfg: BestOfNConfig, prompt: str, i: int, result: InstanceResult) -> tuple[float, str] | None:
        request = (
            f"You are reviewing one candidate solution to a coding task. {READ_ONLY}\n\n"
            f"<task>\n{prompt}\n</task>\n\n"
            f"The candidate's changes are the commits from {ctx.base_commit} to HEAD in this repository "
            f"(inspect them with `git diff {ctx.base_commit}..HEAD`).\n"
            f"{cfg.scorer_prompt + chr(10) if cfg.scorer_prompt else ''}"
            f"Score how well the changes accomplish the task, from 0 (useless) to {cfg.score_scale} (excellent). "
            f'{JSON_REQUEST}: {{"score": <number>, "rationale": "<one paragraph>"}}'
        )
        task = {
            **agent_overrides(cfg.scorer_model or cfg.model, cfg.scorer_plugin, cfg.scorer_agent_command),
            "prompt": request,
            "base_branch": result.branch_name,
        }
        return await ask(ctx, task, ("score", i + 1), lambda text: parse_score(text, cfg.score_scale), cfg.score_attempts)

    def _select(self, ctx: Context, cfg: BestOfNConfig, candidates: list[InstanceResult]) -> list[InstanceResult]:
        eligible = [c for c in candidates if c.success and "score" in c.metrics]
        for c in candidates:
            c.select(winner=False)
        if not eligible:
            reasons = "; ".join(f"candidate {_number(c)}: {c.error or _selection(c).ineligible or c.status}" for c in candidates)
            raise StrategyError(f"no candidate could win ({reasons})")
        best = max(c.metrics["score"] for c in eligible)
        top = [c for c in eligible if c.metrics["score"] == best]
        winner = top[0] if cfg.tie_break == "first" or len(top) == 1 else top[int(ctx.rand() * len(top))]
        reason = f"highest score {best:g}/{cfg.score_scale}"
        if len(top) > 1:
            reason += f", tie among {len(top)} candidates broken by {cfg.tie_break}"
        if cfg.verify:
            reason += f", passed `{cfg.verify}`"
        winner.select(winner=True, reason=reason)
        self.logger.info("best-of-n winner: candidate %s (%s)", _number(winner), reason)
        return [winner] + [c for c in candidates if c is not winner]

    async def _approve(self, ctx: Context, cfg: BestOfNConfig, ranked: list[InstanceResult]) -> list[InstanceResult]:
        """A person confirms the winner or picks another candidate with a branch; the winner comes first."""
        winner = ranked[0]
        pickable = sorted((c for c in ranked if c.success and c.branch_name), key=_number)
        picked = _selection(winner).reason

        def shown(c: InstanceResult) -> str:
            score = c.metrics.get("score")
            why = f"score {score:g}/{cfg.score_scale}" if isinstance(score, (int, float)) else _selection(c).ineligible or "not scored"
            return f"{_number(c)}: {c.branch_name} ({why})"

        ctx.phase = "waiting for approval"
        answer = await ctx.ask(
            f"best-of-n picked candidate {_number(winner)} ({picked}). "
            f"Confirm it or pick another: {'; '.join(shown(c) for c in pickable)}",
            choices=[str(_number(c)) for c in pickable],
            default=str(_number(winner)),
            timeout=cfg.approve_timeout or None,
            key=ctx.key("approve"),
        )
        chosen = next(c for c in pickable if str(_number(c)) == answer.choice)
        note = f": {answer.note}" if answer.note else ""
        if answer.timed_out:
            reason = f"{picked}; nobody answered within {cfg.approve_timeout:g}s, so it stands"
        elif chosen is winner:
            reason = f"{picked}; confirmed by {answer.by}{note}"
        else:
            reason = f"chosen by {answer.by} over candidate {_number(winner)} ({picked}){note}"
            winner.select(winner=False, reason=None)
        chosen.select(winner=True, reason=reason, approval=answer)
        self.logger.info("best-of-n: %s", reason)
        return [chosen] + [c for c in ranked if c is not chosen]


def _selection(c: InstanceResult) -> Selection:
    return c.selection or Selection()


def _number(c: InstanceResult) -> int:
    """The candidate's number (1, 2, ...): every candidate has one once evaluated."""
    return _selection(c).candidate or 0
