"""`synthesize`: after selection, an agent starts from the winner's branch with the other top
candidates' diffs (and the tests' matrix) in its prompt and merges their best parts. Its result is
checked like a candidate (`verify`, and the generated tests when `select` uses them) and becomes the
winner only if it passes at least what the winner passed; otherwise the winner stands, saying why."""

from __future__ import annotations

import asyncio

from workflows.sdk.errors import InstanceFailed
from workflows.sdk.models import InstanceResult, VerifyResult
from workflows.sdk.trail import TestRecord
from workflows.strategies.read_only_agent import agent_overrides
from workflows.strategies.selection.pool import Pool, number
from workflows.strategies.selection.testing import passed_by
from workflows.strategies.selection.tournament import diff

KEY = "synthesis"


def others(pool: Pool, winner: InstanceResult) -> list[InstanceResult]:
    """The best of the other eligible candidates: most tests passed, then tournament points, then score."""
    def rank(c: InstanceResult) -> tuple[float, float, float, int]:
        m = c.metrics
        return (-float(m.get("tests_passed", 0)), -float(m.get("tournament_points", 0)), -float(m.get("score", 0)), number(c))

    return sorted((c for c in pool.eligible if c is not winner), key=rank)[: pool.cfg.synthesize_from]


def matrix_lines(rows: list[TestRecord], shown: list[InstanceResult]) -> str:
    counted = [row for row in rows if row.counted]
    if not counted:
        return ""
    lines = [f"candidate {number(c)} passed {len(passed_by(rows, c))} of {len(counted)} generated tests; failed: "
             + (", ".join(row.test for row in counted if number(c) not in row.passed) or "none") for c in shown]
    return "\n<tests>\n" + "\n".join(lines) + "\n</tests>\n"


async def synthesize(pool: Pool, winner: InstanceResult, uses_tests: bool) -> InstanceResult | None:
    """The synthesizer's result, judged against the winner: it wins (selection.winner) or says why
    not (selection.ineligible); None when there was nothing to combine."""
    ctx, cfg = pool.ctx, pool.cfg
    rest = others(pool, winner)
    if not rest:
        winner.select(reason=f"{(winner.selection.reason if winner.selection else '') or ''}; no other candidate to synthesize from")
        return None
    ctx.phase = "synthesizing"
    diffs = await asyncio.gather(*(diff(pool, c) for c in rest))
    shown = "\n\n".join(f"<candidate_{number(c)}>\n{d}\n</candidate_{number(c)}>" for c, d in zip(rest, diffs, strict=True))
    rows = pool.matrix or []
    request = (
        "You are combining candidate solutions to a coding task.\n\n"
        f"<task>\n{pool.prompt}\n</task>\n\n"
        f"This branch holds candidate {number(winner)}'s solution, picked as the best ({(winner.selection.reason if winner.selection else '')}). "
        f"Other candidates solved it differently; their changes, as `git diff` shows them against the same base:\n\n{shown}\n"
        f"{matrix_lines(rows, [winner, *rest])}\n"
        "Improve this branch by taking what the others do better (a case they handle, a simpler way), keeping what already works. "
        "Change only what makes the solution better, and commit your changes."
    )
    overrides = agent_overrides(cfg.synthesizer_model or cfg.model, cfg.synthesizer_plugin, cfg.synthesizer_agent_command)
    handle = await ctx.run({**overrides, "prompt": request, "base_branch": winner.branch_name}, key=ctx.key(KEY))
    try:
        result = await ctx.wait(handle)
    except InstanceFailed as failed:
        result = failed.result
    result.metadata["synthesized_from"] = [number(winner), *(number(c) for c in rest)]
    stands = f"candidate {number(winner)} stands"
    if not result.success:
        return _lost(winner, result, f"the synthesizer failed ({result.error or result.status}); {stands}")
    if not result.has_changes or not result.branch_name:
        return _lost(winner, result, f"the synthesizer changed nothing; {stands}")
    checks = []
    tested = uses_tests and any(row.counted for row in rows)
    ctx.phase = "checking the synthesis"
    verified, ran = await asyncio.gather(  # both at once: the verification and the generated tests
        ctx.verify(result, cfg.verify, cfg.verify_timeout) if cfg.verify else _nothing(),
        ctx.verify(result, cfg.test_command, cfg.verify_timeout, tests=pool.sources) if tested else _nothing(),
    )
    if verified is not None:
        verified.record(result)
        if not verified.passed:
            return _lost(winner, result, f"the synthesis {verified.failure}; {stands}")
        checks.append(f"passed `{cfg.verify}`")
    if ran is not None:
        needed = passed_by(rows, winner)
        counted = {row.test for row in rows if row.counted}
        got = {t for t, ok in ran.tests.items() if ok and t in counted}
        result.metrics["tests_passed"], result.metrics["tests_counted"] = len(got), len(counted)
        missing = sorted(needed - got)
        if missing:
            return _lost(winner, result, f"the synthesis failed {len(missing)} generated tests the winner passed ({', '.join(missing[:3])}); {stands}")
        checks.append(f"passed {len(got)} of {len(counted)} counted tests (the winner {len(needed)})")
    said = ", ".join(checks) or "nothing to check it against (no verify, no generated tests)"
    winner.select(winner=False)
    result.select(winner=True, reason=f"synthesized from candidates {', '.join(str(n) for n in result.metadata['synthesized_from'])} "
                                       f"on candidate {number(winner)}'s branch; {said}")
    return result


async def _nothing() -> VerifyResult | None:
    return None


def _lost(winner: InstanceResult, result: InstanceResult, why: str) -> InstanceResult:
    result.select(winner=False, ineligible=why)
    picked = (winner.selection.reason if winner.selection else "") or ""
    winner.select(reason=f"{picked}; {why.rsplit(';', 1)[0]}, so it stands")
    return result
