"""`tournament`: a judge agent compares two candidates' diffs against the task, asked twice with
the candidates in both orders (position bias cancels; a split verdict is a draw). A round robin
for up to six candidates (every pair; a win 1 point, a draw half), single elimination past that
(`-S bracket=`): at most `judge_calls(n, bracket)` judgings, each its own instance, every one in
the run's trail with its rationale."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from workflows.sdk.trail import ComparisonRecord, Verdict
from workflows.strategies.read_only_agent import JSON_REQUEST, READ_ONLY, agent_overrides, ask, json_objects
from workflows.strategies.selection.pool import Pick, Pool, number
from workflows.strategies.selection.scoring import tie_broken
from workflows.strategies.selection.spec import judge_calls, round_robin

if TYPE_CHECKING:
    from workflows.sdk.models import InstanceResult

RATIONALE_KEPT = 400


def parse_verdict(text: str | None) -> tuple[Verdict, str] | None:
    """The judge's one JSON object -> ("A" | "B" | "draw", rationale); None if unusable."""
    for data in json_objects(text):
        winner = str(data.get("winner", "")).strip()
        verdict = {"a": "A", "b": "B", "draw": "draw", "tie": "draw"}.get(winner.lower())
        if verdict is not None:
            return verdict, str(data.get("rationale") or data.get("reason") or "")  # type: ignore[return-value]
    return None


def judge_prompt(prompt: str, diff_a: str, diff_b: str, extra: str) -> str:
    return (
        f"You are judging two candidate solutions to a coding task. {READ_ONLY}\n\n"
        f"<task>\n{prompt}\n</task>\n\n"
        f"Each candidate's changes to this repository, as `git diff` shows them:\n\n"
        f"<candidate_a>\n{diff_a}\n</candidate_a>\n\n<candidate_b>\n{diff_b}\n</candidate_b>\n\n"
        f"{extra + chr(10) if extra else ''}"
        "Decide which candidate accomplishes the task better: correct first, then complete, then simple and clear. "
        "Say draw only if you cannot tell them apart. "
        f'{JSON_REQUEST}: {{"winner": "A" | "B" | "draw", "rationale": "<one paragraph>"}}'
    )


async def diff(pool: Pool, c: InstanceResult) -> str:
    """The candidate's diff, asked for once in the run (pairings judged at once share it)."""
    n = number(c)
    if n not in pool.diffs:
        pool.diffs[n] = asyncio.ensure_future(pool.ctx.diff(c, pool.cfg.judge_diff_limit))
    return await pool.diffs[n]


async def compare(pool: Pool, a: InstanceResult, b: InstanceResult, round_: int) -> ComparisonRecord:
    """One pairing, judged in both orders (instances `judge/<a>-<b>/ab|ba/<attempt>`), once in the run."""
    na, nb = sorted((number(a), number(b)))
    if (na, nb) in pool.judged:
        return pool.judged[(na, nb)]
    ctx, cfg = pool.ctx, pool.cfg
    first, second = pool.by_number(na), pool.by_number(nb)
    diff_a, diff_b = await asyncio.gather(diff(pool, first), diff(pool, second))
    overrides = agent_overrides(cfg.judge_model or cfg.model, cfg.judge_plugin, cfg.judge_agent_command)

    def task(x: str, y: str) -> dict[str, object]:
        return {**overrides, "prompt": judge_prompt(pool.prompt, x, y, cfg.judge_prompt), "base_branch": ctx.base_branch}

    ab, ba = await asyncio.gather(
        ask(ctx, task(diff_a, diff_b), ("judge", f"{na}-{nb}", "ab"), parse_verdict, cfg.judge_attempts),
        ask(ctx, task(diff_b, diff_a), ("judge", f"{na}-{nb}", "ba"), parse_verdict, cfg.judge_attempts),
    )
    pick_ab = {"A": na, "B": nb}.get(ab[0]) if ab else None
    pick_ba = {"A": nb, "B": na}.get(ba[0]) if ba else None  # candidate b was shown first
    spent = [p for k, p in ctx.progress.items() if k.startswith(f"judge/{na}-{nb}/")]
    said = [f"{x} first: {r[0]}: {r[1][:RATIONALE_KEPT]}" if r else f"{x} first: no usable answer" for x, r in ((na, ab), (nb, ba))]
    record = ComparisonRecord(
        round=round_, a=na, b=nb, first=pick_ab, second=pick_ba, winner=pick_ab if pick_ab is not None and pick_ab == pick_ba else None,
        rationale=" | ".join(said), tokens=sum(p.input_tokens + p.output_tokens for p in spent), cost_usd=round(sum(p.cost_usd for p in spent), 6),
    )
    pool.judged[(na, nb)] = record
    pool.trail([record])
    ctx.report(first.key, **{f"vs {nb}": _points(record, na)})
    ctx.report(second.key, **{f"vs {na}": _points(record, nb)})
    return record


def _points(record: ComparisonRecord, n: int) -> float:
    return 0.5 if record.winner is None else float(record.winner == n)


async def tournament(pool: Pool, among: list[InstanceResult], method: str) -> Pick:
    """The tournament's winner among `among` and why; the judgings it asked for in `asked`."""
    pick = Pick(None, "")
    if not among:
        pick.reason = "no candidate is eligible"
        return pick
    if len(among) == 1:
        pick.winner, pick.reason = among[0], "the only candidate left for the tournament"
        return pick
    cfg = pool.cfg
    pool.ctx.phase = f"judging (at most {judge_calls(len(among), cfg.bracket) * cfg.judge_attempts} judge calls)"
    numbers = sorted(number(c) for c in among)
    if round_robin(len(among), cfg.bracket):
        pairs = [(a, b) for i, a in enumerate(among) for b in among[i + 1:]]
        records = list(await asyncio.gather(*(compare(pool, a, b, 1) for a, b in pairs)))
        pick.asked.update(f"judge/{r.a}-{r.b}" for r in records)
        points = {n: sum(_points(r, n) for r in records if n in (r.a, r.b)) for n in numbers}
        best = max(points.values())
        top = [pool.by_number(n) for n in numbers if points[n] == best]
        pick.winner = tie_broken(pool, top)
        pick.reason = f"won the round robin with {best:g} of {len(among) - 1} points ({len(records)} pairings, each judged in both orders)"
        if len(top) > 1:
            pick.reason += f", tie among {len(top)} candidates broken by {cfg.tie_break}"
        for c in among:
            c.metrics["tournament_points"] = points[number(c)]
        return pick
    alive, round_ = [pool.by_number(n) for n in numbers], 1
    draws = 0
    while len(alive) > 1:
        pairs = [(alive[i], alive[i + 1]) for i in range(0, len(alive) - 1, 2)]
        records = list(await asyncio.gather(*(compare(pool, a, b, round_) for a, b in pairs)))
        pick.asked.update(f"judge/{r.a}-{r.b}" for r in records)
        advancing = []
        for (a, b), r in zip(pairs, records, strict=True):
            if r.winner is None:
                draws += 1
            advancing.append(pool.by_number(r.winner) if r.winner is not None else tie_broken(pool, [a, b]))
        if len(alive) % 2:
            advancing.append(alive[-1])  # a bye
        alive, round_ = advancing, round_ + 1
    pick.winner = alive[0]
    pick.reason = f"won the single-elimination bracket of {len(among)} in {round_ - 1} rounds"
    if draws:
        pick.reason += f" ({draws} drawn pairings decided by {cfg.tie_break})"
    return pick
