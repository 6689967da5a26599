"""A queue's items: its `source` command run, its output read by `format`, then `filter`ed and
`order`ed (workflows/runbooks/inputs.py and expressions.py). `[functions]` called from a filter
are shell commands run here, true when they exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.agents.base import AgentCommand
from activities.runners.local import run_process
from workflows.runbooks.expressions import matches, ordered
from workflows.runbooks.inputs import InputError, parse_input
from workflows.runbooks.model import QueueDef, Template
from workflows.runbooks.templates import RenderError, render

SOURCE_TIMEOUT = 120.0
FUNCTION_TIMEOUT = 30.0


class SourceError(Exception):
    """A source that cannot give items: names the queue, the command and what went wrong."""


async def read_source(queue: QueueDef, config: dict[str, Any], cwd: Path, timeout: float = SOURCE_TIMEOUT) -> list[Any]:
    """The items `queue.source` prints, in the order printed. Raises SourceError."""
    if queue.source is None:
        raise SourceError(f"queue {queue.name} has no source: its items are added by commands")
    try:
        command = render(queue.source, {"config": config}).strip()
    except RenderError as e:
        raise SourceError(f"queue {queue.name}: {e}") from None
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="orchard-source-") as scratch:
        outcome = await run_process(
            AgentCommand(argv=["bash", "-c", command]), cwd=cwd, timeout=timeout, on_line=lines.append,
            transcript=Path(scratch) / "output.log", record_path=Path(scratch) / "running.json",
        )
    said = outcome.stderr_tail.strip().splitlines()[-1:] or ["(nothing on stderr)"]
    if outcome.timed_out:
        raise SourceError(f"queue {queue.name}: source `{command}` did not finish within {timeout:g}s")
    if outcome.exit_code != 0:
        raise SourceError(f"queue {queue.name}: source `{command}` exited {outcome.exit_code}: {said[0]}")
    try:
        return parse_input("".join(lines), queue.format)
    except InputError as e:
        raise SourceError(f"queue {queue.name}: source `{command}` printed what format {queue.format} cannot read: {e}") from None


def shell_function(name: str, template: Template, config: dict[str, Any], cwd: Path) -> Callable[[Any, dict[str, Any]], bool]:
    """A `[functions]` entry as a filter calls it: the command rendered with the item's fields,
    `item`, `config` and the call's keyword arguments; true when it exits 0 in time."""

    def call(item: Any, kwargs: dict[str, Any]) -> bool:
        fields = item if isinstance(item, dict) else {}
        try:
            command = render(template, {**fields, "item": item, "config": config, **kwargs})
        except RenderError as e:
            raise ValueError(f"function {name}: {e}") from None
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            return proc.wait(FUNCTION_TIMEOUT) == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session, started here
            proc.wait()
            raise ValueError(f"function {name}: `{command}` did not finish within {FUNCTION_TIMEOUT:g}s") from None

    return call


def select(items: list[Any], queue: QueueDef, config: dict[str, Any], functions: dict[str, Template], cwd: Path) -> list[Any]:
    """The items that pass the queue's filter, in its order. Raises SourceError for a filter that fails on an item."""
    calls = {name: shell_function(name, template, config, cwd) for name, template in functions.items()}
    try:
        kept = [item for item in items if queue.filter is None or matches(queue.filter, item, config, calls)]
    except ValueError as e:
        raise SourceError(f"queue {queue.name}: {e}") from None
    return ordered(kept, queue.order)


async def queue_items(queue: QueueDef, config: dict[str, Any], functions: dict[str, Template], cwd: Path) -> list[Any]:
    """What a worker would take from the queue now, in order."""
    items = await read_source(queue, config, cwd)
    return await asyncio.to_thread(select, items, queue, config, functions, cwd)
