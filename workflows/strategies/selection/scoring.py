"""`score`: each candidate alone, 0 to `score_scale`, by a read-only scorer agent (best-of-n's
default); also what breaks the ties the other methods leave."""

from __future__ import annotations

import asyncio

from workflows.sdk.context import Context
from workflows.sdk.models import InstanceResult
from workflows.strategies.read_only_agent import JSON_REQUEST, READ_ONLY, agent_overrides, ask, json_objects
from workflows.strategies.selection.config import SelectionConfig
from workflows.strategies.selection.pool import Pick, Pool, number


def parse_score(text: str | None, scale: int) -> tuple[float, str] | None:
    """The scorer's one JSON object -> (score clamped to 0..scale, rationale); None if unusable."""
    for data in json_objects(text):
        if isinstance(data.get("score"), (int, float)) and not isinstance(data["score"], bool):
            score = min(max(float(data["score"]), 0.0), float(scale))
            return score, str(data.get("rationale") or data.get("reason") or "")
    return None


async def score(ctx: Context, cfg: SelectionConfig, prompt: str, i: int, result: InstanceResult) -> tuple[float, str] | None:
    """Candidate `i + 1`'s score and the scorer's rationale (instances `score/<i+1>/<attempt>`)."""
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


async def scored(pool: Pool, c: InstanceResult) -> tuple[float, str] | None:
    """The candidate's score, asked for once in the run: kept on it (metrics, rationale, shown live)."""
    n = number(c)
    if n not in pool.scores:
        pool.scores[n] = got = await score(pool.ctx, pool.cfg, pool.prompt, n - 1, c)
        if got is not None:
            c.metrics["score"] = got[0]
            c.select(score_rationale=got[1])
            pool.ctx.report(c.key, score=got[0])
    return pool.scores[n]


async def by_score(pool: Pool, among: list[InstanceResult], asked: set[str]) -> tuple[list[InstanceResult], str]:
    """The candidates among `among` with the highest score (all asked at once), and what it was;
    ([], why) when no scorer answered usably."""
    got = await asyncio.gather(*(scored(pool, c) for c in among))
    asked.update(f"score/{number(c)}" for c in among)
    usable = [(c, s[0]) for c, s in zip(among, got, strict=True) if s is not None]
    if not usable:
        return [], "no scorer gave a usable score"
    best = max(s for _, s in usable)
    return [c for c, s in usable if s == best], f"score {best:g}/{pool.cfg.score_scale}"


def tie_broken(pool: Pool, tied: list[InstanceResult]) -> InstanceResult:
    """One of `tied` by `tie_break`: the first (lowest number), or one at random (the run's seed)."""
    return tied[0] if pool.cfg.tie_break == "first" or len(tied) == 1 else tied[int(pool.ctx.rand() * len(tied))]


async def pick_by_score(pool: Pool) -> Pick:
    pick = Pick(None, "")
    eligible = pool.eligible
    if not eligible:
        pick.reason = "no candidate is eligible"
        return pick
    top, said = await by_score(pool, eligible, pick.asked)
    if not top:
        pick.reason = said
        return pick
    pick.winner = tie_broken(pool, top)
    pick.reason = f"highest {said}" + (f", tie among {len(top)} candidates broken by {pool.cfg.tie_break}" if len(top) > 1 else "")
    return pick
