"""Building iteration contexts for the loop decider tests, and driving a decider through them
the way the loop workflow does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows.loops.models import LEVELS, CommandReport, Decision, IterationContext, LevelReport, Snapshot, VerificationReport
from workflows.loops.modes.base import LoopDecider


def report(*outcomes: str, failing: dict[str, list[tuple[str, int | None]]] | None = None) -> VerificationReport:
    """One level per outcome, from L0: "pass", "fail" or "skip". A failing level has one failing
    command `check-<level>` exiting 1, unless `failing` gives its (command, exit_code) pairs."""
    levels = []
    for name, outcome in zip(LEVELS, outcomes, strict=False):
        if outcome == "pass":
            commands = [CommandReport(command=f"check-{name}", passed=True, exit_code=0)]
        elif outcome == "fail":
            pairs = (failing or {}).get(name, [(f"check-{name}", 1)])
            commands = [CommandReport(command=command, passed=False, exit_code=code) for command, code in pairs]
        else:
            commands = []
        levels.append(LevelReport(level=name, passed=outcome == "pass", skipped=outcome == "skip", commands=commands))
    return VerificationReport(levels=levels)


def passing(n: int, of: int = 3) -> VerificationReport:
    """`of` levels, the first `n` passing, the next failing, the rest skipped."""
    return report(*(["pass"] * n + ["fail"] + ["skip"] * of)[:of])


def ctx(
    iteration: int,
    *,
    max_iterations: int = 5,
    tree: str | None = None,
    previous_tree: str | None = None,
    commit: str | None = None,
    previous_commit: str | None = None,
    verification: VerificationReport | None = None,
    output: str = "",
    ci: CommandReport | None = None,
    agent_error: str | None = None,
) -> IterationContext:
    """Iteration `iteration`; by default it changed the tree (tree<n-1> -> tree<n>) and committed."""
    snapshot = Snapshot(
        commit=commit or f"commit{iteration:04d}",
        tree=tree or f"tree{iteration:04d}",
        previous_commit=previous_commit or f"commit{iteration - 1:04d}",
        previous_tree=previous_tree or f"tree{iteration - 1:04d}",
    )
    return IterationContext(
        iteration=iteration,
        max_iterations=max_iterations,
        snapshot=snapshot,
        verification=verification,
        ci=ci,
        agent_output=output,
        agent_error=agent_error,
    )


def chain(
    n: int,
    *,
    max_iterations: int = 5,
    trees: Sequence[str] | None = None,
    commits: Sequence[str] | None = None,
    reports: Sequence[VerificationReport | None] | None = None,
    outputs: Sequence[str] | None = None,
    **common: Any,
) -> list[IterationContext]:
    """Iterations 1..n, each starting where the previous one ended (its tree and commit); a
    sequence shorter than n repeats its last item."""

    def nth(items: Sequence[Any] | None, i: int, default: Any) -> Any:
        return items[min(i, len(items)) - 1] if items and i > 0 else default

    return [
        ctx(
            i,
            max_iterations=max_iterations,
            tree=nth(trees, i, f"tree{i:04d}"),
            commit=nth(commits, i, f"commit{i:04d}"),
            previous_tree=nth(trees, i - 1, f"tree{i - 1:04d}"),
            previous_commit=nth(commits, i - 1, f"commit{i - 1:04d}"),
            verification=nth(reports, i, None),
            output=nth(outputs, i, ""),
            **common,
        )
        for i in range(1, n + 1)
    ]


def step(decider: LoopDecider, context: IterationContext) -> Decision:
    """One iteration as the loop runs it: start, decide, record."""
    decider.on_iteration_start(context.iteration)
    decision = decider.should_continue(context)
    decider.on_iteration_complete(context, decision)
    return decision


def drive(decider: LoopDecider, contexts: Sequence[IterationContext]) -> list[Decision]:
    """The decisions for `contexts` until the first that stops (then on_run_complete)."""
    decisions = []
    for context in contexts:
        decisions.append(step(decider, context))
        if not decisions[-1].should_continue:
            decider.on_run_complete(decisions[-1])
            break
    return decisions


def actions(decisions: Sequence[Decision]) -> list[str]:
    return [d.action for d in decisions]
