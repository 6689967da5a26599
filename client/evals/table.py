"""An evaluation's report as the terminal shows it: one row per task (pass@1, pass@n, and for each
method the candidate it picked, ✓ when that pick passes the hidden check), then one row per method
with the totals and rates across tasks and the cost."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from client.evals.report import EvalReport, MethodTotal, TaskReport

YES, NO = "✓", "✗"
"""A pick that passes the hidden check, and one that does not."""


def _mark(ok: bool) -> Text:
    return Text(YES, style="green") if ok else Text(NO, style="red")


def _pick(picked: int | None, selected: bool) -> Text:
    if picked is None:
        return Text("– none", style="dim")
    return Text.assemble(_mark(selected), f" #{picked}")


def _money(usd: float, estimated: bool) -> str:
    return f"{'~' if estimated else ''}${usd:,.2f}"


def tasks_table(report: EvalReport) -> Table:
    table = Table(title=f"{report.strategy}" + (f", n={report.n}" if report.n else "") + ": per task", title_justify="left")
    table.add_column("task")
    table.add_column("pass@1", justify="center")
    table.add_column("pass@n", justify="center")
    for method in report.methods:
        table.add_column(method, justify="center")
    table.add_column("candidates' cost", justify="right")
    for t in report.tasks:
        table.add_row(*_task_cells(t, report.methods))
    return table


def _task_cells(t: TaskReport, methods: list[str]) -> list[Text | str]:
    if t.error is not None:
        return [t.task, Text(f"error: {t.error}", style="red"), "", *["" for _ in methods], ""]
    passing = sum(c.passed for c in t.candidates)
    rows = {r.method: r for r in t.methods}
    return [
        t.task, _mark(t.pass_at_1), Text.assemble(_mark(t.pass_at_n), f" {passing}/{len(t.candidates)}"),
        *[_pick(rows[m].picked, rows[m].selected) for m in methods],
        _money(t.candidates_cost_usd, any(c.cost_estimated for c in t.candidates)),
    ]


def totals_table(report: EvalReport) -> Table:
    table = Table(title=f"totals over {len(report.tasks)} task{'s' if len(report.tasks) != 1 else ''}", title_justify="left")
    for header in ("method", "pass@1", "pass@n", "selected", "selected / pass@n", "cost"):
        table.add_column(header, justify="left" if header == "method" else "right")
    for total in report.totals:
        table.add_row(*_total_cells(total))
    return table


def _total_cells(t: MethodTotal) -> list[str]:
    def share(count: int) -> str:
        return f"{count}/{t.tasks} ({MethodTotal.rate(count, t.tasks):.0%})"

    of_reachable = f"{MethodTotal.rate(t.selected, t.pass_at_n):.0%}" if t.pass_at_n else "–"
    return [t.method, share(t.pass_at_1), share(t.pass_at_n), share(t.selected), of_reachable, _money(t.cost_usd, t.cost_estimated)]


def print_report(report: EvalReport, console: Console | None = None) -> None:
    (console or Console()).print(Group(tasks_table(report), "", totals_table(report)))
