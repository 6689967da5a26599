"""What a queue's `source` command prints, made items: `format = json | lines | csv | kv`.

- json: a list of objects, one object, or one JSON value per line (JSON Lines);
- lines: each non-empty line is an item (a string);
- csv: a header line, then one item per row (an object by the header's names);
- kv: one item per line of `key=value` pairs, quoted as a shell would (`title="Fix login"`).

CSV and kv values that read as numbers become numbers, so `priority > 2` works on them.
Errors say which line cannot be read and why. The formats' names are the runbook language's
(workflows/runbooks/inputs.py); reading a source's output is the `read_runbook_queue` activity's.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from typing import Any

from workflows.runbooks.inputs import FORMATS, InputFormat


class InputError(ValueError):
    """Output that its format cannot read; `line` is 1-based (0 when not one line's fault)."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _json(output: str) -> list[Any]:
    stripped = output.strip()
    if not stripped:
        return []
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as whole:
        items = []
        for number, line in enumerate(output.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    if number == 1 and whole.lineno > 1:  # one document, broken further down
                        raise InputError(f"not JSON: {whole.msg} (column {whole.colno})", whole.lineno) from None
                    raise InputError(f"not JSON: {e.msg} (column {e.colno}): {line.strip()[:80]}", number) from None
        return items
    return value if isinstance(value, list) else [value]


def _csv(output: str) -> list[Any]:
    rows = list(csv.reader(io.StringIO(output)))
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise InputError(f"the CSV header {','.join(rows[0])!r} needs distinct, non-empty names", 1)
    items = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{len(row)} values for {len(header)} columns ({', '.join(header)})", number)
        items.append({name: _number(cell.strip()) for name, cell in zip(header, row, strict=True)})
    return items


def _kv(output: str) -> list[Any]:
    items = []
    for number, line in enumerate(output.splitlines(), 1):
        if not line.strip():
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise InputError(f"{e}: {line.strip()[:80]}", number) from None
        item = {}
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or not key:
                raise InputError(f"{word!r} is not key=value", number)
            item[key] = _number(value)
        items.append(item)
    return items


def parse_input(output: str, format: InputFormat) -> list[Any]:
    """The items in a source's output. Raises InputError naming the line it cannot read."""
    if format == "json":
        return _json(output)
    if format == "lines":
        return [line.strip() for line in output.splitlines() if line.strip()]
    if format == "csv":
        return _csv(output)
    if format == "kv":
        return _kv(output)
    raise InputError(f"unknown format {format!r}; formats: {', '.join(FORMATS)}")
