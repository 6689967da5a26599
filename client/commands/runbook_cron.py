"""`orchard runbook cron start|stop|list|pause|unpause|trigger`: a runbook's `[cron.NAME]` as a
Temporal Schedule on this repository (client/schedules.py makes it; workflows/runbooks/cron.py is
what each of its runs does)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from typing import Any

from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleDescription, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from client.errors import EXIT_SUCCESS, UsageError
from client.runbooks.registry import RunbookRegistry
from workflows.runbooks import model as m
from workflows.sdk.durations import format_duration


def _cron(registry: RunbookRegistry, name: str) -> m.CronDef:
    """RUNBOOK.CRON (or RUNBOOK.cron.CRON), or CRON when one runbook has a cron of that name."""
    if "." not in name:
        found = [book.crons[name] for book in registry.runbooks.values() if name in book.crons]
        if len(found) == 1:
            return found[0]
        known = sorted(f"{c.ref.split('.')[0]}.{c.name}" for book in registry.runbooks.values() for c in book.crons.values())
        if found:
            raise UsageError(f"{len(found)} runbooks have a cron {name}: name one as RUNBOOK.{name}")
        raise UsageError(f"no cron {name!r}; crons: {', '.join(known) or 'none'}")
    try:
        cron: m.CronDef = registry.resolve(name, "cron")
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    return cron


def _schedule_id(cron: m.CronDef, repo: str | None, remote: str | None) -> str:
    """The schedule of the cron on this repository (or its remote, with --remote; or a remote's URL, --repo URL)."""
    from client.repository import run_repository
    from workflows.runbooks.cron import CronStrategy

    return CronStrategy.schedule_id_for(cron.ref, run_repository(repo or ".", remote).repo)


def _every(cron: m.CronDef) -> str:
    return f"every {format_duration(cron.interval)}"


def _what(cron: m.CronDef) -> str:
    monitors = [r.split(".")[-1] for r in cron.monitors]
    return ", ".join(([f"monitors {', '.join(monitors)}"] if monitors else []) + (["its run"] if cron.command is not None else []))


async def cmd_cron_start(args: argparse.Namespace, registry: RunbookRegistry) -> int:
    from client.commands.run import request_from
    from client.schedules import schedule
    from workflows.runbooks.cron import CronStrategy

    cron = _cron(registry, args.name)
    args.strategy, args.prompt, args.prompt_file = CronStrategy.NAME, f"cron {cron.ref}", None
    args.params = [f"cron={cron.ref}", f"runbooks={json.dumps(registry.bundle(cron.ref).model_dump(mode='json'))}"]
    args.detach, args.runs = True, 1  # a schedule's runs are started by Temporal, not followed here
    note = "" if cron.enabled else "enabled = false in its runbook: `orchard runbook cron unpause` starts it"
    made = await schedule(request_from(args), lambda run_input: CronStrategy.schedule_id_for(cron.ref, run_input.repo),
                          cron.interval, paused=not cron.enabled, note=note)
    state = "paused" if made.paused else _every(cron)
    print(f"cron {cron.name}: schedule {made.schedule_id} {'made' if made.created else 'updated'}: {state}, {_what(cron)}"
          + (f"; UI: {made.ui_link}" if made.ui_link else ""))
    home = registry.runbooks[cron.ref.split(".")[0]]
    if home.safety.dry_run_first and made.created:
        print("its first run is a dry run ([safety] dry_run_first): it says what it would do and changes nothing")
    return EXIT_SUCCESS


async def _handle(args: argparse.Namespace, cron: m.CronDef) -> tuple[ScheduleHandle, ScheduleDescription | None]:
    from client.runs import target_for

    target = await target_for(getattr(args, "address", None), getattr(args, "namespace", None), getattr(args, "config", None))
    handle = target.client.get_schedule_handle(_schedule_id(cron, getattr(args, "repo", None), getattr(args, "remote", None)))
    try:
        return handle, await handle.describe()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return handle, None


def _missing(cron: m.CronDef, args: argparse.Namespace) -> UsageError:
    remote = f" --remote {args.remote}" if getattr(args, "remote", None) else ""
    where = f"its remote {args.remote}" if remote else "this repository"
    return UsageError(f"cron {cron.name} has no schedule on {where}: start it with `orchard runbook cron start {args.name}{remote}`")


def _state(cron: m.CronDef, described: ScheduleDescription | None) -> dict[str, Any]:
    """A cron's schedule as `cron list` says it: not started, paused (and why), or running; its next and last runs."""
    if described is None:
        return {"state": "not started"}
    state = described.schedule.state
    info = described.info
    said: dict[str, Any] = {"state": "paused" if state.paused else "running", "schedule": described.id, "runs": info.num_actions}
    if state.paused and state.note:
        said["note"] = state.note
    if info.next_action_times and not state.paused:
        said["next"] = info.next_action_times[0].astimezone(UTC).isoformat(timespec="seconds")
    if info.recent_actions:
        last = info.recent_actions[-1]
        said["last"] = last.started_at.astimezone(UTC).isoformat(timespec="seconds")
        if isinstance(last.action, ScheduleActionExecutionStartWorkflow):
            said["last_run"] = last.action.workflow_id
    return said


async def cmd_cron_list(args: argparse.Namespace, registry: RunbookRegistry) -> int:
    crons = [c for book in sorted(registry.runbooks.values(), key=lambda b: b.name) for c in book.crons.values()]
    if not crons:
        print("no crons in the runbooks", file=sys.stderr)
        return EXIT_SUCCESS
    for cron in crons:
        _, described = await _handle(args, cron)
        said = _state(cron, described)
        name = f"{cron.ref.split('.')[0]}.{cron.name}"
        if args.output == "json":
            print(json.dumps({"cron": name, "interval": cron.interval, "monitors": [r.split(".")[-1] for r in cron.monitors], **said}))
            continue
        more = "".join(f", {key} {said[key]}" for key in ("next", "last", "last_run") if key in said)
        note = f" ({said['note']})" if "note" in said else ""
        runs = f", {said['runs']} run{'s' * (said['runs'] != 1)}" if "runs" in said else ""
        print(f"{name:<24} {_every(cron):<12} {said['state']}{note}{runs}{more}  [{_what(cron)}]")
    return EXIT_SUCCESS


async def cmd_cron_act(args: argparse.Namespace, registry: RunbookRegistry) -> int:
    """pause, unpause, trigger or stop one cron's schedule."""
    cron = _cron(registry, args.name)
    handle, described = await _handle(args, cron)
    if described is None:
        raise _missing(cron, args)
    action, by = args.cron_action, getattr(args, "note", None) or f"by {_who()} with orchard runbook cron {args.cron_action}"
    if action == "pause":
        await handle.pause(note=by)
        print(f"cron {cron.name}: paused (`orchard runbook cron unpause {args.name}` starts it again)")
    elif action == "unpause":
        await handle.unpause(note=by)
        print(f"cron {cron.name}: running, {_every(cron)}")
    elif action == "trigger":
        await handle.trigger()
        print(f"cron {cron.name}: a run starts now" + (" (the schedule stays paused)" if described.schedule.state.paused else ""))
    else:
        await handle.delete()
        print(f"cron {cron.name}: schedule {handle.id} deleted (a run going on finishes)")
    return EXIT_SUCCESS


def _who() -> str:
    import getpass

    return getpass.getuser()


async def cmd_cron(args: argparse.Namespace, registry: RunbookRegistry) -> int:
    if args.cron_action == "start":
        return await cmd_cron_start(args, registry)
    if args.cron_action == "list":
        return await cmd_cron_list(args, registry)
    return await cmd_cron_act(args, registry)
