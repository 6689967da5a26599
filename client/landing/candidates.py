"""A run's candidates as `orchard diff`, `land` and `pr` number them, and which one a command means.

Pure: it reads a run's result only. A candidate is a result with a branch; it is numbered by its
strategy's own number when it has one (best-of-n's `candidate`), else by its place among them
(1, 2, ...), so `orchard diff RUN 1 3` and `orchard land RUN --candidate 3` agree with `orchard show`.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.errors import UsageError
from workflows.sdk.models import InstanceResult, RunResult


@dataclass(frozen=True)
class Candidate:
    number: int
    result: InstanceResult

    @property
    def branch(self) -> str:
        return self.result.branch_name or ""

    @property
    def label(self) -> str:
        return f"candidate {self.number} ({self.branch})"


def candidates(result: RunResult) -> list[Candidate]:
    """The run's results that have a branch, numbered."""
    with_branch = [r for r in result.instances if r.branch_name]
    numbered = [r.selection.candidate if r.selection and r.selection.candidate else None for r in with_branch]
    if all(n is not None for n in numbered) and len(set(numbered)) == len(numbered):
        return sorted((Candidate(n, r) for n, r in zip(numbered, with_branch, strict=True) if n is not None), key=lambda c: c.number)
    return [Candidate(i + 1, r) for i, r in enumerate(with_branch)]


def _listed(found: list[Candidate]) -> str:
    return ", ".join(f"{c.number} {c.branch}" for c in found) or "none"


def pick(result: RunResult, wanted: str | None) -> Candidate:
    """The candidate `wanted` names (its number, instance key or branch), or by default the run's
    winner, else its only candidate with changes (a simple run's, a loop's or a pipeline's branch)."""
    found = candidates(result)
    if not found:
        raise UsageError(f"run {result.run_id} has no branch to take (its results made none)")
    if wanted is not None:
        for c in found:
            if wanted in (str(c.number), c.result.key, c.branch):
                return c
        raise UsageError(f"run {result.run_id} has no candidate {wanted!r}; its candidates: {_listed(found)}")
    winners = [c for c in found if c.result.winner]
    if len(winners) == 1:
        return winners[0]
    changed = [c for c in found if c.result.has_changes and c.result.success]
    if len(changed) == 1:
        return changed[0]
    if len(found) == 1:
        return found[0]
    raise UsageError(f"run {result.run_id} has no winner and {len(found)} candidates; pass --candidate K (one of: {_listed(found)})")


def verification(r: InstanceResult) -> str:
    """passed, failed or - (not verified): `-S verify`, a variant's verification, or a loop's checks."""
    passed = r.metrics.get("verify_passed")
    if passed is None and r.variant is not None:
        passed = r.variant.verified
    if passed is None and r.loop is not None and r.loop.trail:
        passed = r.loop.trail[-1].ci_passed
    return "-" if passed is None else "passed" if passed else "failed"


def merit(r: InstanceResult) -> str:
    """Its score (best-of-n's scorer), else the checks its loop's last iteration passed, else -."""
    score = r.metrics.get("score")
    if isinstance(score, (int, float)):
        return f"score {score:g}"
    if r.loop is not None and r.loop.trail:
        return "passed " + (",".join(r.loop.trail[-1].levels_passed) or "none")
    return "-"


def chosen_how(r: InstanceResult) -> str:
    """How the run chose it, as its strategy said."""
    s = r.selection
    if s is None:
        return "the run's only result" if r.success else f"{r.status}"
    if s.approval is not None:
        return f"picked, then {s.approval.choice!r} by {s.approval.by or '?'}"
    said = s.reason or s.ineligible or ""
    return ("the winner" if s.winner else "not picked" if s.winner is False else "") + (f": {said}" if said else "")
