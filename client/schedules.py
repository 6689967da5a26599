"""Runs a Temporal Schedule starts (a runbook's `[cron.NAME]`): the run's input made as `orchard
run` makes it (client/run_steps.py: the repository, orchard.yaml and the flags, the strategy, its
worker), then the schedule made, or updated if it exists, to start such a run every interval.

The schedule is Temporal's: it survives restarts of the server and of every worker, shows under
Schedules in the Temporal UI, and is paused, unpaused, triggered and deleted there or with
`orchard runbook cron`. A run it starts while the last one still runs is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.secrets import redact
from client import run_steps as step
from client.request import RunRequest
from workflows.sdk.models import RunInput
from workflows.sdk.visibility import run_memo, run_search_attributes


@dataclass(frozen=True)
class Scheduled:
    schedule_id: str
    created: bool
    """False: it existed, and was updated (its state, paused or not, kept)."""
    paused: bool
    task_queue: str
    ui_link: str | None


def schedule_link(ui_url: str | None, client: Client, schedule_id: str) -> str | None:
    return f"{ui_url}/namespaces/{client.namespace}/schedules/{schedule_id}" if ui_url else None


async def schedule(request: RunRequest, schedule_id: Callable[[RunInput], str], every: float, paused: bool, note: str) -> Scheduled:
    """The schedule that starts the run `request` asks for every `every` seconds (made paused if
    `paused`), with the id `schedule_id` gives for its input; UsageError for what the user must fix."""
    plan = await step.planned(request)
    configuration, chosen = plan.configuration, plan.chosen
    run_input = plan.run_input.model_copy(update={"base_commit": None})  # each run starts from its base branch as it is then
    runner = await step.runner(configuration)
    ident = schedule_id(run_input)
    async with step.serve(request, configuration, chosen, runner) as served:
        if served.serving is not None:
            await served.serving  # its worker is up before anything is scheduled for it
        action = ScheduleActionStartWorkflow(
            chosen.name, run_input, id=ident, task_queue=served.task_queue,
            typed_search_attributes=run_search_attributes(chosen.name, run_input.repo),
            memo=run_memo(run_input, served.task_queue, redact(run_input.prompt[:500]) or "", modules=chosen.modules),
            static_summary=redact(f"{chosen.name}: {run_input.prompt[:120]}"),
        )
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every))])
        client = served.target.client
        made = Schedule(action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP), state=ScheduleState(paused=paused, note=note))
        link = schedule_link(served.target.ui_url, client, ident)
        try:
            await client.create_schedule(ident, made)
            return Scheduled(ident, True, paused, served.task_queue, link)
        except ScheduleAlreadyRunningError:
            pass
        handle = client.get_schedule_handle(ident)

        def updated(given: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=dataclasses.replace(given.description.schedule, action=action, spec=spec))

        await handle.update(updated)
        kept = (await handle.describe()).schedule.state.paused
        return Scheduled(ident, False, kept, served.task_queue, link)
