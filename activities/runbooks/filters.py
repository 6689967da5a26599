"""A queue's items filtered and ordered (the `read_runbook_queue` activity's work): a runbook's
filter, written and checked as workflows/runbooks/expressions.py says, evaluated on each item in
Jinja2's sandbox; `age()` reads this host's clock; then the queue's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jinja2 import TemplateError

from workflows.runbooks.expressions import compile_filter
from workflows.runbooks.model import SortKey
from workflows.sdk.durations import parse_duration


def _labels(item: Any) -> list[Any]:
    labels = item.get("labels") if isinstance(item, dict) else None
    return list(labels) if isinstance(labels, (list, tuple)) else []


def _age(value: Any, now: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return now - float(value)
    text = str(value).replace("Z", "+00:00")
    try:
        return now - datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"age({value!r}): not an ISO-8601 time or epoch seconds") from None


def item_scope(item: Any, config: dict[str, Any], functions: dict[str, Callable[..., bool]] | None = None,
               now: float | None = None) -> dict[str, Any]:
    """The names a filter sees for one item. `functions` maps [functions] names to callables
    taking the item and the call's arguments (the activity runs their commands)."""
    clock = time.time() if now is None else now  # this host's clock: an activity's to read
    scope: dict[str, Any] = dict(item) if isinstance(item, dict) else {}
    scope.update(
        item=item, config=config,
        has_label=lambda name: name in _labels(item),
        has_any_label=lambda names: any(n in _labels(item) for n in names),
        has_all_labels=lambda names: all(n in _labels(item) for n in names),
        duration=parse_duration,
        age=lambda value: _age(value, clock),
    )
    for name, run in (functions or {}).items():  # keyword arguments by name; positional ones (otters' affects_dir('src')) as `args`
        scope[name] = lambda *args, _run=run, **kwargs: bool(_run(item, {**kwargs, "args": list(args)} if args else kwargs))
    return scope


def matches(expression: str, item: Any, config: dict[str, Any], functions: dict[str, Callable[..., bool]] | None = None,
            now: float | None = None) -> bool:
    """Whether `item` passes the filter. Raises ValueError naming the filter and what went wrong."""
    try:
        return bool(compile_filter(expression)(**item_scope(item, config, functions, now)))
    except (TemplateError, TypeError, ValueError) as e:
        raise ValueError(f"filter {expression.strip()!r} on {_brief(item)}: {getattr(e, 'message', None) or e}") from None


def _brief(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."


def _field(item: Any, path: str) -> Any:
    value = item
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def ordered(items: list[Any], order: list[SortKey]) -> list[Any]:
    """Items sorted by the keys in turn (stable); a missing or incomparable field sorts last."""
    result = list(items)
    for key in reversed(order):
        present = [i for i in result if _field(i, key.field) is not None]
        absent = [i for i in result if _field(i, key.field) is None]
        try:
            present.sort(key=lambda i: _field(i, key.field), reverse=key.descending)
        except TypeError:
            present.sort(key=lambda i: str(_field(i, key.field)), reverse=key.descending)
        result = present + absent
    return result
