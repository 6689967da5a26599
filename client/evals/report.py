"""An evaluation's figures: per task and selection method, pass@1 (candidate 1 passes the hidden
check), pass@n (some candidate passes), selected (the method's pick passes) and cost (what the
candidates cost plus that method's own selection agents); and the totals across tasks. Pure: the
checks' outcomes and the run's result in, the report out (tests/client/test_eval_report.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows.sdk.models import MethodPick, RunResult


class CandidateCheck(BaseModel):
    """One candidate and what the hidden check said of its commit."""

    candidate: int
    branch: str | None = None
    commit: str | None = None
    passed: bool = False
    detail: str = ""
    """Why it did not pass (no changes, the check's exit, a timeout), or empty."""
    cost_usd: float = 0.0
    cost_estimated: bool = False


class MethodRow(BaseModel):
    method: str
    picked: int | None
    """The candidate the method picked; None: it picked none."""
    selected: bool
    """The pick passes the hidden check."""
    selection_cost_usd: float = 0.0
    cost_usd: float = 0.0
    """The candidates' cost plus this method's own (scorers, judges, test writers)."""
    cost_estimated: bool = False
    reason: str = ""


class TaskReport(BaseModel):
    task: str
    title: str = ""
    run_id: str | None = None
    repository: str | None = None
    """The repository the run worked on (where the candidates' branches are), when kept."""
    candidates: list[CandidateCheck] = Field(default_factory=list)
    pass_at_1: bool = False
    pass_at_n: bool = False
    candidates_cost_usd: float = 0.0
    methods: list[MethodRow] = Field(default_factory=list)
    error: str | None = None
    """The run could not give candidates (it failed, or was refused): every figure is a miss."""


class MethodTotal(BaseModel):
    method: str
    tasks: int
    pass_at_1: int
    pass_at_n: int
    selected: int
    cost_usd: float
    cost_estimated: bool = False

    @staticmethod
    def rate(count: int, tasks: int) -> float:
        return count / tasks if tasks else 0.0


class EvalReport(BaseModel):
    strategy: str
    n: int | None = None
    methods: list[str]
    tasks: list[TaskReport]
    totals: list[MethodTotal]


def task_report(task: str, title: str, methods: list[str], result: RunResult, checks: list[CandidateCheck]) -> TaskReport:
    """A task's figures from its run's result and the hidden check of each candidate."""
    by_number = {c.candidate: c for c in checks}
    first = by_number.get(1)
    candidates_cost = sum(c.cost_usd for c in checks)
    estimated = any(c.cost_estimated for c in checks)
    picks = {p.method: p for p in result.selections}
    rows = [_method_row(m, picks.get(m), by_number, candidates_cost, estimated) for m in methods]
    return TaskReport(
        task=task, title=title, run_id=result.run_id, candidates=sorted(checks, key=lambda c: c.candidate),
        pass_at_1=first is not None and first.passed, pass_at_n=any(c.passed for c in checks),
        candidates_cost_usd=candidates_cost, methods=rows,
    )


def _method_row(method: str, pick: MethodPick | None, by_number: dict[int, CandidateCheck], candidates_cost: float, estimated: bool) -> MethodRow:
    if pick is None:  # the run's result says nothing of this method: it picked nothing
        return MethodRow(method=method, picked=None, selected=False, cost_usd=candidates_cost, cost_estimated=estimated,
                         reason="the run's result has no pick for this method")
    chosen = by_number.get(pick.candidate) if pick.candidate is not None else None
    return MethodRow(
        method=method, picked=pick.candidate, selected=chosen is not None and chosen.passed, selection_cost_usd=pick.cost_usd,
        cost_usd=candidates_cost + pick.cost_usd, cost_estimated=estimated or pick.cost_estimated, reason=pick.reason,
    )


def failed_task(task: str, title: str, methods: list[str], error: str, run_id: str | None = None) -> TaskReport:
    """A task whose run gave no candidates to check: a miss for every figure, saying why."""
    rows = [MethodRow(method=m, picked=None, selected=False, reason=error) for m in methods]
    return TaskReport(task=task, title=title, run_id=run_id, methods=rows, error=error)


def totals(methods: list[str], tasks: list[TaskReport]) -> list[MethodTotal]:
    """Per method, across every task (a failed task counts as a miss): how many passed at 1, at n,
    how many picks passed, and the cost."""
    out = []
    for method in methods:
        rows = [next(r for r in t.methods if r.method == method) for t in tasks]
        out.append(MethodTotal(
            method=method, tasks=len(tasks), pass_at_1=sum(t.pass_at_1 for t in tasks), pass_at_n=sum(t.pass_at_n for t in tasks),
            selected=sum(r.selected for r in rows), cost_usd=sum(r.cost_usd for r in rows), cost_estimated=any(r.cost_estimated for r in rows),
        ))
    return out


def build_report(strategy: str, n: int | None, methods: list[str], tasks: list[TaskReport]) -> EvalReport:
    return EvalReport(strategy=strategy, n=n, methods=methods, tasks=tasks, totals=totals(methods, tasks))
