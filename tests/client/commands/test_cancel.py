"""`orchard cancel RUN`: the run's agents stop, what it left on this host is removed, and it ends
canceled; a run nobody serves is told to cancel, and one whose strategy code fails is terminated."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from tests.client.commands.conftest import Orchard
from tests.conftest import SCRIPTED_REPO, start_scripted
from tests.scripted import Script, until
from workflows.sdk.models import RunInput, TaskDefaults


async def test_cancel_stops_the_agents_removes_the_workspaces_and_ends_the_run_canceled(orchard: Orchard, client, scripted_queue, orchard_home: Path):
    script = Script(holds={"candidate/.*": asyncio.Event()})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2})
    await until(lambda: len(script.calls) == 2)
    left = orchard_home / "workspaces" / handle.id / "k0000cafe"  # what a worker that died before its cleanup left here
    left.mkdir(parents=True)
    said = await orchard("cancel", handle.id)
    assert said.code == 0, said.err
    assert said.out == f"run {handle.id}: canceled; its agents were stopped and their workspaces removed\n"
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    await until(lambda: len([e for e in script.events if e.startswith("end")]) == 2)  # neither agent was left running
    assert not (orchard_home / "workspaces" / handle.id).exists()

    said = await orchard("cancel", handle.id)
    assert (said.code, said.out, said.err) == (2, "", f"orchard: run {handle.id} is already canceled; nothing to cancel\n")


async def test_a_run_no_worker_serves_is_asked_to_cancel_and_told_so(orchard: Orchard, client, named_server: str):
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    run_input = RunInput(prompt="x", repo=SCRIPTED_REPO, base_branch="main", defaults=TaskDefaults(agent_command="scripted"))
    handle = await client.start_workflow("simple", run_input, id=f"run_unserved_{uuid.uuid4().hex[:8]}", task_queue=queue)
    try:
        said = await orchard("cancel", handle.id)
        assert said.code == 0, said.err
        assert said.out == (f"run {handle.id}: cancel requested, but no worker polls task queue '{queue}' on {named_server}; "
                            f"start one with `python worker.py --address {named_server}` (or pass --with-worker); it ends as canceled once one does\n")
        events = [e.event_type async for e in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in events
    finally:
        await handle.terminate("the test is over")


@workflow.defn(name="test-failing-strategy", sandboxed=False)
class FailingStrategy:
    """A strategy whose code fails: its workflow task fails again and again, so it cannot carry out a cancel."""

    @workflow.run
    async def run(self, run_input: RunInput) -> None:
        raise RuntimeError("a bug in the strategy")


async def test_a_run_whose_strategy_code_fails_is_terminated(orchard: Orchard, client):
    queue = f"failing-{uuid.uuid4().hex[:6]}"
    run_input = RunInput(prompt="x", repo=SCRIPTED_REPO, base_branch="main", defaults=TaskDefaults(agent_command="scripted"))
    async with Worker(client, task_queue=queue, workflows=[FailingStrategy]):
        handle = await client.start_workflow("test-failing-strategy", run_input, id=f"run_failing_{uuid.uuid4().hex[:8]}", task_queue=queue)

        async def failed_once() -> bool:  # what cancel looks at: a workflow task tried again after failing
            return (await handle.describe()).raw_description.pending_workflow_task.attempt > 1

        await until(failed_once)
        said = await orchard("cancel", handle.id)
    assert said.code == 0, said.err
    assert said.out.startswith(f"run {handle.id}: terminated, since its strategy code fails (a bug in the strategy (at ")
    assert said.out.endswith(") and cannot carry out a cancel; its agents stop at their next heartbeat\n")
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_cancel_of_no_such_run_is_one_line_exit_2(orchard: Orchard, named_server: str):
    said = await orchard("cancel", "run_nosuch")
    assert said.code == 2 and said.out == "" and said.err.startswith(f"orchard: no run 'run_nosuch' on {named_server} (") and said.err.count("\n") == 1
