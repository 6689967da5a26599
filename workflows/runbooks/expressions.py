"""Queue filters and orders, as a runbook writes them: checked and read here (the client's loader),
evaluated on a queue's items by the activity that reads the queue (activities/runbooks/filters.py).

A filter is a Jinja2 expression (Python-like) over one item, evaluated in Jinja2's sandbox:
`not has_label('assigned')`, `priority > 2 and 'bug' in labels`, `title.startswith('fix')`.
An item's fields are names (`priority`, `labels`); the whole item is `item` (a line of a
`lines` source is `item`); `config` is the runbook's [config]. Functions:

- `has_label(name)`, `has_any_label(names)`, `has_all_labels(names)`: over the item's `labels`;
- `duration('7d')`: seconds; `age(timestamp)`: seconds since an ISO-8601 time (or epoch seconds);
- each `[functions]` entry of the runbook: a shell command rendered with the item's fields and the
  call's keyword arguments (`affects_dir(dir='src')`), true when it exits 0.

otters' spelling is read as what it means (otters_filter): `&&` is `and`, `||` is `or`, `!x` is
`not x`, a template `{config.labels}` is the value `config.labels`, and a quoted one
`'{config.labels}'` that value as otters writes it into text (nothing for none or an empty
list, a list's items joined by commas): `('{config.labels}' == '' || has_any_label({config.labels}))`
holds for every item while config.labels is empty, else for those with one of its labels. A
`[functions]` function takes keyword arguments, or positional ones, which its command reads as `args`.

An order is `field`, `field DESC` or several, comma-separated (`priority DESC, created_at`);
items without the field go last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from workflows.runbooks.templates import check_internals

FILTER_FUNCTIONS: dict[str, str] = {
    "has_label": "has_label(name): the item's labels hold name",
    "has_any_label": "has_any_label(names): the item's labels hold one of names",
    "has_all_labels": "has_all_labels(names): the item's labels hold every one of names",
    "duration": "duration('7d'): seconds",
    "age": "age(timestamp): seconds since an ISO-8601 time or epoch seconds",
}

def as_text(value: Any) -> str:
    """A value as otters writes it into a filter's text: nothing for none or an empty list or table,
    a list's items joined by commas, true and false in lower case."""
    if value is None or (isinstance(value, (list, tuple, dict)) and not value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(as_text(v) for v in value)
    return str(value)


_ENV = SandboxedEnvironment(undefined=StrictUndefined)
_ENV.filters["as_text"] = as_text
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_GROUP = re.compile(r"\{([^{}]*)\}")


def _is_expression(text: str) -> bool:
    try:
        parser = Parser(_ENV, text, state="variable")
        parser.parse_expression()
        return bool(parser.stream.eos)
    except TemplateError:
        return False


def _outside_quotes(text: str) -> str:
    text = _GROUP.sub(lambda m: f"({m[1].strip()})" if _is_expression(m[1]) else m[0], text)
    text = text.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", text)


def _in_quotes(quoted: str) -> str:
    """`'{config.labels}'` -> `(config.labels | as_text)`; `'fix-{x}'` -> `('fix-' ~ (x | as_text))`."""
    body, q = quoted[1:-1], quoted[0]
    groups = [g for g in _GROUP.finditer(body) if _is_expression(g[1])]
    if not groups:
        return quoted
    parts, at = [], 0
    for group in groups:
        if group.start() > at:
            parts.append(q + body[at:group.start()] + q)
        parts.append(f"({group[1].strip()} | as_text)")
        at = group.end()
    if at < len(body):
        parts.append(q + body[at:] + q)
    return "(" + " ~ ".join(parts) + ")"


@lru_cache(maxsize=128)
def otters_filter(expression: str) -> str:
    """A filter as Jinja2 evaluates it: otters' spelling (`&&`, `||`, `!x`, `{x}`, `'{x}'`) read as what it means."""
    out, at = [], 0
    for quoted in _QUOTED.finditer(expression):
        out += [_outside_quotes(expression[at:quoted.start()]), _in_quotes(quoted[0])]
        at = quoted.end()
    out.append(_outside_quotes(expression[at:]))
    return "".join(out).strip()


@lru_cache(maxsize=128)
def _parse(expression: str) -> nodes.Expr:
    parser = Parser(_ENV, expression, state="variable")
    tree = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError(f"unexpected {parser.stream.current.value!r} after the expression", parser.stream.current.lineno)
    return tree


def compile_filter(expression: str) -> Callable[..., Any]:
    """The filter as a function of the names an item gives it (activities/runbooks/filters.py)."""
    return _ENV.compile_expression(otters_filter(expression), undefined_to_none=False)


def check_filter(expression: str, functions: set[str]) -> None:
    """Raises ValueError for a filter that cannot be evaluated: bad syntax, or a call to a
    function that is neither built in nor in the runbook's [functions]."""
    try:
        tree = _parse(otters_filter(expression))
        check_internals(tree)
    except TemplateError as e:
        raise ValueError(f"filter {expression.strip()!r}: {e.message}") from None
    except ValueError as e:
        raise ValueError(f"filter {expression.strip()!r}: {e}") from None
    for call in [tree, *tree.find_all(nodes.Call)]:
        if isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name) and call.node.name not in FILTER_FUNCTIONS and call.node.name not in functions:
            known = sorted(set(FILTER_FUNCTIONS) | functions)
            raise ValueError(f"filter calls {call.node.name}(), which is not a function here; functions: {', '.join(known)}")


class SortKey(BaseModel):
    """One key of a queue's `order`: `priority DESC` is SortKey(field="priority", descending=True)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    descending: bool = False


_SORT_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)(?:\s+(ASC|DESC))?", re.IGNORECASE)


def parse_order(text: str) -> list[SortKey]:
    """`priority DESC, created_at` -> sort keys. Raises ValueError for what it cannot read."""
    keys = []
    for part in text.split(","):
        match = _SORT_KEY.fullmatch(part.strip())
        if not match:
            raise ValueError(f"order {text!r}: cannot read {part.strip()!r}; write field, field DESC, or several separated by commas")
        keys.append(SortKey(field=match[1], descending=(match[2] or "").upper() == "DESC"))
    return keys
