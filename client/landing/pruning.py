"""What `orchard prune` may remove of a repository's Orchard branches, and why it keeps the rest. Pure.

A branch is a run's when one of its name's parts is the run's id (orchard/<strategy>/<run_id>/k…,
orchard/<run_id>-k…, orchard/runbook/<pipeline>/<run_id>). It goes only when it is under orchard/,
checked out nowhere, and its run is over (Temporal says so, or forgot a run the user named), ended
longer ago than --older-than, and, with --keep-landed, never landed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workflows.sdk.durations import format_duration

ORCHARD_BRANCHES = "refs/heads/orchard/"


@dataclass(frozen=True)
class RunState:
    """A run as prune sees it: whether it still runs, when it ended, what it named by reference."""

    run_id: str
    running: bool
    ended: datetime | None = None
    status: str = ""
    prompt_refs: tuple[str, ...] = ()


@dataclass
class PrunePlan:
    branches: dict[str, str] = field(default_factory=dict)
    """The branches to remove (short name) -> the run they are of."""
    kept: dict[str, str] = field(default_factory=dict)
    """The branches kept (short name) -> why."""
    runs: list[str] = field(default_factory=list)
    """The runs that are over and keep no branch: their prompts and what they left on this host go too."""
    prompt_refs: list[str] = field(default_factory=list)


def run_of(branch: str, known: Iterable[str]) -> str | None:
    """Which of the `known` run ids the branch (its short name, orchard/...) is of."""
    ids = set(known)
    for part in branch.removeprefix("orchard/").split("/"):
        for piece in (part, re.sub(r"-k[0-9a-f]{8}$", "", part)):
            if piece in ids:
                return piece
    return None


def plan_prune(branches: list[str], runs: dict[str, RunState], checked_out: set[str], now: datetime, older_than: timedelta | None,
               keep_landed: bool, landed: set[str], named: list[str] | None = None) -> PrunePlan:
    """Which of `branches` (short names) go. `runs`: what Temporal knows (a run it forgot is absent);
    `named`: the runs the user named (only theirs are considered; one Temporal forgot is over)."""
    plan = PrunePlan()
    considered = set(named) if named else set(runs)
    keeping_runs: set[str] = set()
    for branch in branches:
        if not branch.startswith("orchard/"):
            plan.kept[branch] = "not an Orchard branch"
            continue
        run_id = run_of(branch, considered)
        if run_id is None:
            if not named:
                plan.kept[branch] = "no run Temporal knows made it (name its run to prune it)"
            continue
        state = runs.get(run_id)
        why = _kept_because(state, branch in checked_out, now, older_than, keep_landed and run_id in landed)
        if why:
            plan.kept[branch] = why
            keeping_runs.add(run_id)
        else:
            plan.branches[branch] = run_id
    for run_id in sorted(considered - keeping_runs):
        state = runs.get(run_id)
        if _kept_because(state, False, now, older_than, keep_landed and run_id in landed) is None:
            plan.runs.append(run_id)
    gone = {ref for r in plan.runs for ref in (runs[r].prompt_refs if r in runs else ())}
    still = {ref for r, state in runs.items() if r not in plan.runs for ref in state.prompt_refs}
    plan.prompt_refs = sorted(gone - still)
    return plan


def _kept_because(state: RunState | None, checked_out: bool, now: datetime, older_than: timedelta | None, landed: bool) -> str | None:
    if checked_out:
        return "checked out"
    if state is not None and state.running:
        return "its run is still running"
    if landed:
        return "its run landed (--keep-landed)"
    if older_than is not None and state is not None and state.ended is not None and now - state.ended < older_than:
        return f"its run ended less than {format_duration(older_than.total_seconds())} ago ({state.ended:%Y-%m-%d %H:%M} UTC)"
    return None
