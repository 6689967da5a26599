"""Tables that fit the terminal they are printed on.

rich shrinks every column of a table that is too wide, so at 90 or 120 columns a status read
`sta…` and a note vanished. A FittedTable is laid out for the width it is printed at (a live
view's again as the terminal is resized), its columns whole. When they do not fit, branch names
go first: they lose the prefix they all share (`…/k1a2b3c4d`, the prefix said once below the
table); then columns with nothing in them go; then the text column (a note, what an agent does)
wraps in the room left, branch names cut from the left to make room for it, with the usual
spacing between columns and then with less; then the text goes below the table, one line per
row; then numbers are shortened (1.28M tokens); then branch names are cut to their last 11 cells.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

Cell = str | Text
TEXT_MIN = 20
"""The narrowest a text column wraps in; with less room its text goes below the table."""
BRANCH_MIN = 12
"""The narrowest a branch name is cut to (`…` and the end of its key's hash)."""
EMPTY = ("", "-")


@dataclass
class Column:
    header: str
    cells: list[Cell]
    kind: Literal["keep", "branch", "text"] = "keep"
    """keep: printed whole; branch: branch names, shortened first; text: wraps, or goes below the table."""
    short: list[Cell] | None = None
    """The same values, shorter (`1.28M` for `1,280,245`), for a terminal too narrow for them."""
    width: int | None = None
    """A text column's wrapping width (the layout's)."""


@dataclass(frozen=True)
class _Plan:
    compact: bool
    """One cell of padding between columns instead of two."""
    text: Literal["wrap", "below"]
    short: bool


PLANS = (_Plan(False, "wrap", False), _Plan(True, "wrap", False), _Plan(False, "below", False), _Plan(True, "below", False), _Plan(True, "below", True))
"""What is given up, in order, once branch names are shortened and empty columns gone."""


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _natural(column: Column) -> int:
    return column.width if column.width is not None else max([cell_len(column.header), *(cell_len(_plain(c)) for c in column.cells)])


def _width(columns: list[Column], compact: bool = False) -> int:
    """What rich needs for these columns: each cell padded by one on both sides (compact: on its
    right, not at the table's edges), a rule between columns."""
    gaps = 2 * (len(columns) - 1) if compact else 3 * len(columns) - 1
    return sum(_natural(c) for c in columns) + gaps


def shared_prefix(names: list[str]) -> str:
    """The part every name starts with, up to its last `/` or `-`: what the table need not repeat."""
    names = [n for n in names if n not in EMPTY]
    common = os.path.commonprefix(names) if names else ""
    cut = max(common.rfind("/"), common.rfind("-"))
    return common[:cut + 1] if cut > 0 else ""


@dataclass
class FittedTable:
    """Columns laid out for the width available when printed. `key`: the column that names a row
    (for text moved below the table); `notes`: lines printed below it."""

    columns: list[Column]
    key: int = 0
    notes: list[str] = field(default_factory=list)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table, below = self.layout(options.max_width)
        yield table
        for line in below:
            yield Text(line)

    def layout(self, width: int) -> tuple[Table, list[str]]:
        """The table for `width` cells, and the lines that go below it."""
        columns, below = list(self.columns), list(self.notes)
        if _width(columns) <= width:
            return _table(columns), below
        columns = _shared_prefix(columns, below)
        if _width(columns) <= width:
            return _table(columns), below
        key = self.columns[self.key].header
        columns = [c for c in columns if c.header == key or any(_plain(cell) not in EMPTY for cell in c.cells)]
        for plan in PLANS:
            fitted = self._planned(columns, width, plan, force=plan is PLANS[-1])  # the last as near as it gets: rich cuts the rest
            if fitted is not None:
                return _table(fitted[0], plan.compact), fitted[1] + below
        raise AssertionError("the last plan always lays the table out")

    def _planned(self, columns: list[Column], width: int, plan: _Plan, force: bool = False) -> tuple[list[Column], list[str]] | None:
        """The columns as `plan` lays them out in `width` (branch names cut as far as needed), and
        the lines it moves below the table; None if they do not fit (`force`: as near as it gets)."""
        if plan.short:
            columns = [replace(c, cells=c.short) if c.short is not None else c for c in columns]
        text = next((c for c in columns if c.kind == "text"), None)
        moved: list[str] = []
        if text is not None and plan.text == "below":
            names = next(c for c in columns if c.header == self.columns[self.key].header).cells
            moved = [f"{_plain(name)}: {_plain(cell)}" for name, cell in zip(names, text.cells, strict=True) if _plain(cell) not in EMPTY]
            columns = [c for c in columns if c is not text]
        elif text is not None:
            room = width - _width([c for c in columns if c is not text], plan.compact) - (2 if plan.compact else 3)
            columns = [replace(c, width=min(max(room, TEXT_MIN), _natural(c))) if c is text else c for c in columns]
        excess = _width(columns, plan.compact) - width
        branch = next((c for c in columns if c.kind == "branch"), None)
        if excess > 0 and branch is not None:
            room = max(_natural(branch) - excess, BRANCH_MIN)
            columns = [replace(c, cells=[_cut(cell, room) for cell in c.cells]) if c is branch else c for c in columns]
            excess = _width(columns, plan.compact) - width
        return (columns, moved) if excess <= 0 or force else None


def _shared_prefix(columns: list[Column], below: list[str]) -> list[Column]:
    """Branch names without the prefix they share (said once below the table)."""
    shortened = []
    for c in columns:
        prefix = shared_prefix([_plain(cell) for cell in c.cells]) if c.kind == "branch" else ""
        if len(prefix) > 1:
            c = replace(c, cells=[cell if _plain(cell) in EMPTY else "…" + _plain(cell)[len(prefix) - 1:] for cell in c.cells])
            below.append(f"{c.header}: … stands for {prefix[:-1]}")
        shortened.append(c)
    return shortened


def _cut(cell: Cell, room: int) -> Cell:
    """A branch name cut from the left to `room` cells: its end tells it from the others."""
    plain = _plain(cell)
    return cell if cell_len(plain) <= room else "…" + plain[-(room - 1):]


def _table(columns: list[Column], compact: bool = False) -> Table:
    table = Table(show_edge=False, header_style="bold", padding=(0, 1, 0, 0) if compact else (0, 1), pad_edge=not compact)
    for c in columns:
        if c.kind == "text":
            table.add_column(c.header, overflow="fold", max_width=c.width)
        else:
            table.add_column(c.header, no_wrap=True)
    for row in _rows(columns):
        table.add_row(*row)
    return table


def _rows(columns: list[Column]) -> Iterator[list[Cell]]:
    for i in range(len(columns[0].cells) if columns else 0):
        yield [c.cells[i] for c in columns]


def short_count(n: int) -> str:
    """A count in five cells or fewer: 9,876, 960k, 1.28M."""
    if n < 10_000:
        return f"{n:,}" if n else "-"
    return f"{n / 1000:.0f}k" if n < 999_500 else f"{n / 1_000_000:.2f}M"
