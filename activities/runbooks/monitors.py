"""A cron's work at the repository's root, or on a remote in this host's checkout of the run's
branch (activities/workspaces/checkout.py; workflows/runbooks/cron.py drives it): a monitor
checked (`check_runbook_monitor`: its source run and read, its condition run for each item) and
one command run (`run_runbook_command`: an action, a monitor's `run`, an event)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.runbooks.formats import InputError, parse_input
from activities.runbooks.sources import run_shell
from activities.secrets import redact
from activities.workspaces.checkout import commands_root
from workflows.runbooks.model import MonitorFormat
from workflows.runbooks.monitors import (
    ITEMS_PER_TICK,
    KEYS_KEPT,
    CommandInput,
    CommandOutcome,
    MatchedItem,
    MonitorCheck,
    MonitorCheckInput,
    SkippedItem,
    item_key,
    item_values,
)
from workflows.runbooks.templates import RenderError, render

CONDITIONS_AT_ONCE = 8
TAIL_LIMIT = 2000


def read_items(output: str, format: MonitorFormat) -> list[Any]:
    """A source's items: `auto` reads JSON when the output is JSON, else one item per line."""
    if format != "auto":
        return parse_input(output, format)
    try:
        return parse_input(output, "json")
    except InputError:
        return parse_input(output, "lines")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


async def _root(repo: str, base_branch: str) -> Path:
    """Where the cron's commands run: the repository's root, or this host's checkout of a remote's branch."""
    try:
        return await commands_root(repo, base_branch, activity.info().workflow_id)
    except FileNotFoundError as e:
        raise ApplicationError(str(e), type="BranchMissing", non_retryable=True) from None


@activity.defn
async def check_runbook_monitor(inp: MonitorCheckInput) -> MonitorCheck:
    """The items of the monitor's source whose condition holds (exit 0), at the repository's root."""
    monitor = inp.monitor
    try:
        root = await _root(inp.repo, inp.base_branch)
    except ApplicationError as e:
        return MonitorCheck(error=e.message)
    try:
        source = render(monitor.source, {**inp.values, "config": inp.config}).strip()
    except RenderError as e:
        return MonitorCheck(error=f"source: {e}")
    code, output, errors = await run_shell(source, root, inp.timeout)
    if code is None:
        return MonitorCheck(error=f"source `{source}` did not finish within {inp.timeout:g}s")
    if code != 0:
        return MonitorCheck(error=f"source `{source}` exited {code}: {redact(_last_line(errors))}")
    try:
        items = read_items(output, monitor.format)
    except InputError as e:
        return MonitorCheck(error=f"source `{source}` printed what format {monitor.format} cannot read: {e}")
    check = MonitorCheck(listed=len(items), root=str(root))
    limit = asyncio.Semaphore(CONDITIONS_AT_ONCE)

    async def holds(item: Any) -> tuple[Any, str | None]:
        """(the item, None when its condition holds, "" when not, else why it could not be checked)."""
        if monitor.condition is None:
            return item, None
        try:
            condition = render(monitor.condition, {**item_values(item), **inp.values, "config": inp.config})
        except RenderError as e:
            return item, f"its condition cannot be checked: {e}"
        async with limit:
            activity.heartbeat(f"condition for {item_key(item)}")
            exit_code, _, _ = await run_shell(condition, root, inp.timeout)
        if exit_code is None:
            return item, f"its condition did not finish within {inp.timeout:g}s"
        return item, None if exit_code == 0 else ""

    for item, verdict in await asyncio.gather(*(holds(item) for item in items)):
        key = item_key(item)
        if verdict is None:
            if len(check.matching) < KEYS_KEPT:
                check.matching.append(key)
            if len(check.matched) < ITEMS_PER_TICK:
                check.matched.append(MatchedItem(key=key, item=item))
        elif verdict:
            check.skipped.append(SkippedItem(key=key, item=item, reason=verdict))
    return check


@activity.defn
async def run_runbook_command(inp: CommandInput) -> CommandOutcome:
    """One command of a cron at the repository's root: its exit code (None: killed at its timeout) and what it printed last."""
    activity.heartbeat(inp.label)
    code, output, errors = await run_shell(inp.command, await _root(inp.repo, inp.base_branch), inp.timeout)
    tail = (output + ("\n" + errors if errors.strip() else "")).strip()[-TAIL_LIMIT:]
    if code != 0:
        activity.logger.warning("%s: `%s` exited %s: %s", inp.label, inp.command, code, errors.strip()[-300:])
    return CommandOutcome(exit_code=code, output_tail=redact(tail) or "")
