"""A queue's items: its `source` command run, its output read by `format`, then `filter`ed and
`order`ed (activities/runbooks/formats.py and filters.py). `[functions]` called from a filter
are shell commands run here, true when they exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.runbooks.filters import matches, ordered
from activities.runbooks.formats import InputError, parse_input
from activities.workspaces.checkout import commands_root
from workflows.runbooks.consumer import ITEMS_PER_POLL, item_id
from workflows.runbooks.consumer_state import HookInput, QueueRead, QueueReadInput
from workflows.runbooks.model import QueueDef, Template
from workflows.runbooks.templates import RenderError, render

SOURCE_TIMEOUT = 120.0
FUNCTION_TIMEOUT = 30.0


class SourceError(Exception):
    """A source that cannot give items: names the queue, the command and what went wrong."""


async def run_shell(command: str, cwd: Path, timeout: float) -> tuple[int | None, str, str]:
    """`bash -c command` in its own session: (exit code, or None when it was killed at `timeout`; stdout; stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_session(proc.pid)
        await proc.wait()
        return None, "", ""
    except asyncio.CancelledError:
        _kill_session(proc.pid)
        raise
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _kill_session(pid: int) -> None:
    """The session started for one command: its output pipes are still open, so its group lives and the id is still its."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def read_source(queue: QueueDef, config: dict[str, Any], cwd: Path, timeout: float = SOURCE_TIMEOUT) -> list[Any]:
    """The items `queue.source` prints, in the order printed. Raises SourceError."""
    if queue.source is None:
        raise SourceError(f"queue {queue.name} has no source: its items are added by commands")
    try:
        command = render(queue.source, {"config": config}).strip()
    except RenderError as e:
        raise SourceError(f"queue {queue.name}: {e}") from None
    code, output, errors = await run_shell(command, cwd, timeout)
    if code is None:
        raise SourceError(f"queue {queue.name}: source `{command}` did not finish within {timeout:g}s")
    if code != 0:
        said = errors.strip().splitlines()[-1:] or ["(nothing on stderr)"]
        raise SourceError(f"queue {queue.name}: source `{command}` exited {code}: {said[0]}")
    try:
        return parse_input(output, queue.format)
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
            _kill_session(proc.pid)  # not reaped yet, so the id is still its
            proc.wait()
            raise ValueError(f"function {name}: `{command}` did not finish within {FUNCTION_TIMEOUT:g}s") from None

    return call


def select(items: list[Any], queue: QueueDef, config: dict[str, Any], functions: dict[str, Template], cwd: Path) -> list[Any]:
    """The items that pass the queue's filter, in its order. Raises SourceError for a filter that fails on an item."""
    calls = {name: shell_function(name, template, config, cwd) for name, template in functions.items()}
    now = time.time()  # one clock for the whole poll: every item's age() is measured from the same instant
    try:
        kept = [item for item in items if queue.filter is None or matches(queue.filter, item, config, calls, now)]
    except ValueError as e:
        raise SourceError(f"queue {queue.name}: {e}") from None
    return ordered(kept, queue.order)


async def queue_items(queue: QueueDef, config: dict[str, Any], functions: dict[str, Template], cwd: Path) -> list[Any]:
    """What a worker would take from the queue now, in order."""
    items = await read_source(queue, config, cwd)
    return await asyncio.to_thread(select, items, queue, config, functions, cwd)


@activity.defn
async def read_runbook_queue(inp: QueueReadInput) -> QueueRead:
    """A worker's poll: the queue's items now, at the repository's root (a remote's: its checkout on
    this host), but those the worker has handled for good (and at most ITEMS_PER_POLL). A source that
    fails is not retried here (the worker polls again later); it says why."""
    try:
        items = await queue_items(inp.queue, inp.config, inp.functions, await commands_root(inp.repo, inp.base_branch, activity.info().workflow_id))
    except SourceError as e:
        raise ApplicationError(str(e), type="SourceFailed", non_retryable=True) from None
    settled = set(inp.settled)
    read = QueueRead()
    for item in items:
        key = item_id(item)
        if key in settled:
            read.settled.append(key)
        elif len(read.items) < ITEMS_PER_POLL:
            read.items.append(item)
    return read


@activity.defn
async def run_runbook_hook(inp: HookInput) -> None:
    """A queue's hook command (a dead letter's `on_add`), at the repository's root; a failing one is logged."""
    code, _, errors = await run_shell(inp.command, await commands_root(inp.repo, inp.base_branch, activity.info().workflow_id), SOURCE_TIMEOUT)
    if code != 0:
        activity.logger.warning("hook `%s` exited %s: %s", inp.command, code, errors.strip()[-300:])
