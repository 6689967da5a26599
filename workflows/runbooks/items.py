"""A queue item as the pipeline or task its worker hands it to sees it, in otters' spelling.

Its fields are variables (`{id}`, `{title}`, `{branch}`) of the pipeline, of the task and of the
queue's dead-letter hook (`dead.on_add = "oj emit queue:dead --id {id}"`); the whole item is
`item`, and is also named after its queue (`{issue}` for the queue `issues`, `{bug}` for `bugs`:
otters' loop runbook writes `{issue.id}`). A handler pipeline's inputs are filled from the
item's fields of the same name (otters' mergeq: `inputs = ["branch", "pipeline"]`); an input
named after the item, or the one required input no field fills, takes the whole item (`inputs =
["bug"]`). Every value is still quoted into the commands it stands in."""

from __future__ import annotations

from typing import Any, Protocol


class Pipeline(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> list[str]: ...

    def required_inputs(self) -> list[str]: ...


def item_name(queue: str) -> str:
    """What the item is called after its queue: the queue's name without its plural s (issues -> issue)."""
    return queue[:-1] if queue.endswith("s") and not queue.endswith("ss") and len(queue) > 1 else queue


def item_fields(item: Any) -> dict[str, Any]:
    """The fields of an item that can be a variable's name (a `lines` item has none)."""
    return {k: v for k, v in item.items() if isinstance(k, str) and k.isidentifier()} if isinstance(item, dict) else {}


def item_values(item: Any, queue: str) -> dict[str, Any]:
    """What the templates that take an item read: its fields, then `item` and its name after the queue."""
    return {**item_fields(item), "item": item, item_name(queue): item}


def handler_inputs(pipeline: Pipeline, item: Any, queue: str) -> dict[str, Any]:
    """A handler pipeline's inputs for `item`. Raises ValueError naming the inputs no field gives."""
    fields = item_fields(item)
    inputs = {name: fields[name] for name in pipeline.inputs if name in fields}
    missing = [name for name in pipeline.required_inputs() if name not in inputs]
    whole = [name for name in missing if name in ("item", item_name(queue))] or (missing if len(missing) == 1 and not inputs else [])
    inputs.update(dict.fromkeys(whole, item))
    missing = [name for name in missing if name not in whole]
    if missing:
        given = ", ".join(sorted(fields)) or "none: it is not a table"
        raise ValueError(f"pipeline {pipeline.name} needs {', '.join(missing)}, which the item does not have (its fields: {given})")
    return inputs
