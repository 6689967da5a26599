"""How best-of-n picks among its candidates, one module per method: scoring (each alone, by a
scorer), testing (tests that agents wrote, run on every candidate), tournament (a judge comparing
two at a time); spec (the settings' spellings and bounds), pool (what the methods share in a run),
synthesis (an agent combining the best candidates) and this module's `pick` (a spec's methods in turn)."""

from __future__ import annotations

from workflows.strategies.selection.pool import Pick, Pool
from workflows.strategies.selection.scoring import by_score, pick_by_score, tie_broken
from workflows.strategies.selection.testing import top_by_tests
from workflows.strategies.selection.tournament import tournament


async def pick(pool: Pool, spec: str, methods: tuple[str, ...]) -> Pick:
    """What the spec's methods pick, in turn: `score`; `tests` (ties to the scorer); `tournament`;
    `tests` then `tournament` among those tied at the top."""
    if methods == ("score",):
        return await pick_by_score(pool)
    result = Pick(None, "")
    among = pool.eligible
    if not among:
        result.reason = "no candidate is eligible"
        return result
    said = []
    if methods[0] == "tests":
        among, why = await top_by_tests(pool, result.asked)
        said.append(why)
        if len(among) > 1 and methods == ("tests",):
            top, scored = await by_score(pool, among, result.asked)
            if not top:
                result.winner = tie_broken(pool, among)
                said.append(f"tie among {len(among)} candidates: {scored}, broken by {pool.cfg.tie_break}")
            else:
                result.winner = tie_broken(pool, top)
                said.append(f"tie among {len(among)} candidates broken by the scorer ({scored}"
                            + (f", then by {pool.cfg.tie_break} among {len(top)})" if len(top) > 1 else ")"))
            result.reason = ", ".join(said)
            return result
        if len(among) == 1:
            result.winner = among[0]
            result.reason = said[0]
            return result
        said[-1] += f", tie among {len(among)} candidates"
    judged = await tournament(pool, among, spec)
    result.asked |= judged.asked
    result.winner = judged.winner
    said.append(judged.reason)
    result.reason = "; ".join(said)
    return result
