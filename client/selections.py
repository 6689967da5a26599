"""How best-of-n's selection shows (`orchard show`, the run's end): the candidates × tests matrix,
the tournament's comparisons, and what each selection method picked and spent (`-S compare=`)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from client.tables import Column, FittedTable
from workflows.sdk.models import MethodPick
from workflows.sdk.trail import ComparisonRecord, TestRecord

PASS, FAIL = Text("✓", style="green"), Text("✗", style="red")


def matrix_table(rows: Sequence[TestRecord]) -> FittedTable:
    """One row per generated test, one column per candidate (and the base): passed or failed, and
    whether it counts (a test failing everywhere or passing on the base counts for nothing)."""
    candidates = sorted({n for row in rows for n in (*row.passed, *row.failed)})
    columns = [Column("test", [row.test for row in rows]), Column("base", [PASS if row.base else FAIL for row in rows])]
    columns += [Column(str(n), [PASS if n in row.passed else FAIL for row in rows]) for n in candidates]
    columns += [Column("counts", ["yes" if row.counted else "no" for row in rows]), Column("note", [row.note for row in rows], kind="text")]
    passed = ", ".join(f"{n}: {sum(1 for row in rows if row.counted and n in row.passed)}" for n in candidates)
    return FittedTable(columns, notes=[f"counted tests passed by candidate: {passed}"] if candidates else [])


def comparisons_table(rows: Sequence[ComparisonRecord]) -> FittedTable:
    """One row per pairing: the judge's pick in each order, the outcome, and why."""
    def shown(n: int | None) -> str:
        return "draw" if n is None else str(n)

    return FittedTable([
        Column("round", [str(row.round) for row in rows]),
        Column("pair", [f"{row.a} vs {row.b}" for row in rows]),
        Column("a first", [shown(row.first) for row in rows]),
        Column("b first", [shown(row.second) for row in rows]),
        Column("winner", [Text(shown(row.winner), style="green" if row.winner is not None else "yellow") for row in rows]),
        Column("cost", [f"${row.cost_usd:.4f}" if row.cost_usd else "-" for row in rows]),
        Column("rationale", [row.rationale[:240] for row in rows], kind="text"),
    ])


def picks_table(picks: Sequence[MethodPick]) -> FittedTable:
    """What each selection method picked, why, and what its own agents spent."""
    return FittedTable([
        Column("method", [p.method for p in picks]),
        Column("pick", [str(p.candidate) if p.candidate is not None else "-" for p in picks]),
        Column("tokens", [f"{p.input_tokens + p.output_tokens:,}" if p.input_tokens + p.output_tokens else "-" for p in picks]),
        Column("cost", [("~" if p.cost_estimated else "") + f"${p.cost_usd:.4f}" if p.cost_usd else "-" for p in picks]),
        Column("reason", [p.reason for p in picks], kind="text"),
    ])


def test_line(row: TestRecord) -> str:
    counts = "" if row.counted else f" (counts for nothing: {row.note})"
    return f"test {row.test}: passed by {', '.join(map(str, row.passed)) or 'none'}{counts}"


def comparison_line(row: ComparisonRecord) -> str:
    outcome = f"candidate {row.winner} wins" if row.winner is not None else "a draw"
    return f"round {row.round}: {row.a} vs {row.b}: {outcome} ({row.rationale[:160]})"
