"""`best-of-n`: n candidates, each verified and scored by a read-only agent; the best one wins.

`select` picks otherwise (workflows/strategies/selection/): by tests that agents wrote, by a judge
comparing two candidates at a time, or both; `compare` runs several methods on the same candidates
(an evaluation: the first one's pick wins, each one's pick is in RunResult.selections);
`synthesize` lets an agent combine the best candidates; `ensemble` runs candidates of different
agents (the variants format). With `approve`, a person confirms the winner or picks another
candidate (`orchard answer RUN N`) before the run ends; with `approve_timeout` the scored winner
stands when nobody answers in time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from workflows.sdk.context import RUN_INSTANCES_LIMIT, Context, Handle
from workflows.sdk.errors import InstanceFailed, StrategyError
from workflows.sdk.models import InstanceResult, Selection, VariantSummary
from workflows.sdk.strategy import Strategy
from workflows.strategies.selection import Pool, pick
from workflows.strategies.selection.config import SelectionConfig
from workflows.strategies.selection.scoring import parse_score, score, scored
from workflows.strategies.selection.synthesis import synthesize
from workflows.strategies.selection.testing import start_writers
from workflows.strategies.variants.running import variant_task

__all__ = ["DIVERSITY_HINTS", "BestOfNConfig", "BestOfNStrategy", "parse_score"]

DIVERSITY_HINTS = (
    "Favor the simplest correct change.",
    "Prioritize robustness: handle edge cases and errors explicitly.",
    "Optimize for readability: clear names, small functions.",
    "Keep performance in mind and avoid needless work.",
    "Back the change with tests where the project has them.",
    "Follow the existing conventions of the codebase closely.",
)


@dataclass
class BestOfNConfig(SelectionConfig):
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
        self.check_selection()
        if self.synthesize and self.approve:
            raise ValueError("synthesize and approve do not go together: a person approves a candidate, not a synthesis")


class BestOfNStrategy(Strategy[BestOfNConfig]):
    def get_config_class(self) -> type[BestOfNConfig]:
        return BestOfNConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        said = self._reserve(ctx, cfg)
        if said:
            ctx.phase = said
        if cfg.select != "score" or cfg.compare or cfg.synthesize or cfg.ensemble:
            return await self._execute_selecting(prompt, base_branch, ctx, cfg)
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

    async def _execute_selecting(self, prompt: str, base_branch: str, ctx: Context, cfg: BestOfNConfig) -> list[InstanceResult]:
        """best-of-n with `select`, `compare`, `synthesize` or `ensemble`: each spec picks in turn
        among the same candidates (workflows/strategies/selection/); the first spec's pick wins."""
        specs = cfg.specs()
        methods = {m for _, ms in specs for m in ms}
        n = cfg.n if "n" in self.params or not cfg.ensemble else len(cfg.ensemble)
        judging = cfg.judge_calls(n)
        if judging:  # said up front: in the worker's log and, until the candidates are in, the run's phase
            self.logger.info("best-of-n: the tournament may ask for up to %s judge calls", judging)
            ctx.phase = f"running {n} candidates (the tournament will ask for at most {judging} judge calls)"
        handles = [await ctx.run(self._candidate_task(cfg, prompt, base_branch, i, n), key=ctx.key("candidate", i + 1)) for i in range(n)]
        pool = Pool(ctx, cfg, prompt, [])
        if "tests" in methods:
            pool.writers = await start_writers(ctx, cfg, prompt, base_branch)

        async def evaluated(i: int, handle: Handle) -> InstanceResult:
            """The candidate verified, and scored as soon as it is when a spec scores (a scorer
            without a usable answer leaves it to the other specs, not out of the run)."""
            c = await self._evaluate(ctx, cfg, prompt, i, handle, scoring=False)
            if "score" in methods and pool.is_eligible(c):
                ctx.phase = "scoring"
                await scored(pool, c)
            return c

        pool.candidates = candidates = list(await asyncio.gather(*(evaluated(i, h) for i, h in enumerate(handles))))
        if cfg.ensemble:
            for i, c in enumerate(candidates):
                c.variant = VariantSummary(id=cfg.ensemble[i % len(cfg.ensemble)]["id"], role=f"candidate {i + 1}", verified=c.metrics.get("verify_passed"))
        succeeded = [c for c in candidates if c.success]
        if len(succeeded) < cfg.require_min_success:
            raise StrategyError(f"only {len(succeeded)} of {n} candidates succeeded; require_min_success={cfg.require_min_success}")
        ctx.keep_trail = True
        picks = []
        for given, spec_methods in specs:
            ctx.phase = f"selecting ({given})"
            picks.append((given, await pick(pool, given, spec_methods)))
        ctx.selections = [pool.spent(given, p) for given, p in picks]
        for c in candidates:
            c.select(winner=False)
        chosen = picks[0][1]
        if chosen.winner is None:
            reasons = "; ".join(f"candidate {_number(c)}: {c.error or _selection(c).ineligible or c.status}" for c in candidates if c not in pool.eligible)
            raise StrategyError(f"no candidate could win ({reasons or chosen.reason})")
        winner = chosen.winner
        winner.select(winner=True, reason=chosen.reason + (f", passed `{cfg.verify}`" if cfg.verify else ""))
        self.logger.info("best-of-n winner: candidate %s (%s)", _number(winner), _selection(winner).reason)
        ranked = [winner] + [c for c in candidates if c is not winner]
        if cfg.synthesize:
            synthesized = await synthesize(pool, winner, "tests" in specs[0][1])
            if synthesized is not None:
                ranked = [synthesized, *ranked] if synthesized.winner else [winner, synthesized, *ranked[1:]]
        return await self._approve(ctx, cfg, ranked) if cfg.approve else ranked

    def _reserve(self, ctx: Context, cfg: BestOfNConfig) -> str:
        """Under a budget, what the selection will ask for is kept back from the candidates (its
        agent calls as expected when each answers first time), so the run can pick among them."""
        methods = {m for _, ms in cfg.specs() for m in ms}
        n = cfg.n if "n" in self.params or not cfg.ensemble else len(cfg.ensemble)
        per_candidate = float("score" in methods)
        if "tournament" in methods:
            per_candidate += cfg.judge_calls(n) / max(cfg.judge_attempts, 1) / n
        fixed = (cfg.test_writers if "tests" in methods else 0) + int(cfg.synthesize)
        return ctx.reserve_for_selection(("score", "judge", "tests", "synthesis"), round(per_candidate, 2), fixed)

    def _candidate_task(self, cfg: BestOfNConfig, prompt: str, base_branch: str, i: int, n: int) -> dict[str, Any]:
        """Candidate i+1's task: the prompt with its approach hint; with `ensemble`, its agent's settings."""
        text = prompt
        if cfg.diversity_hints and n > 1:
            text = f"{prompt}\n\nApproach hint for this attempt: {DIVERSITY_HINTS[i % len(DIVERSITY_HINTS)]}"
        if cfg.ensemble:
            return variant_task(cfg.ensemble[i % len(cfg.ensemble)], text, base_branch, cfg.model)
        return {"prompt": text, "base_branch": base_branch, "model": cfg.model}

    async def _evaluate(self, ctx: Context, cfg: BestOfNConfig, prompt: str, i: int, handle: Handle, scoring: bool = True) -> InstanceResult:
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
        if not scoring:
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
        return await score(ctx, cfg, prompt, i, result)

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
            why = f"score {score:g}/{cfg.score_scale}" if isinstance(score, (int, float)) else _selection(c).ineligible or _standing(c)
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


def _standing(c: InstanceResult) -> str:
    """How an unscored candidate stood by the other methods (tests passed, tournament points)."""
    m = c.metrics
    said = ([f"passed {m['tests_passed']} of {m['tests_counted']} tests"] if "tests_passed" in m else []) + (
        [f"{m['tournament_points']:g} tournament points"] if "tournament_points" in m else [])
    return ", ".join(said) or "not scored"


def _selection(c: InstanceResult) -> Selection:
    return c.selection or Selection()


def _number(c: InstanceResult) -> int:
    """The candidate's number (1, 2, ...): every candidate has one once evaluated."""
    return _selection(c).candidate or 0
