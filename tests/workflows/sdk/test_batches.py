"""Instances past a run's first `instances_per_history` run in batches of child workflows: the
strategy sees every result as ever, concurrency stays within max_parallel, each history stays
small, a cancel reaches the batches, and the run replays."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from client.commands.replay import replay
from client.snapshots import snapshot
from tests.conftest import ROOT, listed, start_scripted
from tests.scripted import Script
from tests.workflows.sdk.test_context import most_at_once
from workflows.sdk.batches import BATCH_WORKFLOW
from workflows.sdk.models import RunProgress

FANOUT = str(ROOT / "examples" / "fanout_two.py")


async def test_a_fan_out_past_its_history_share_runs_in_batches_within_max_parallel(client, scripted_queue):
    script = Script(delays={"gen/.*": 0.02})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 8}, max_parallel=2, run={"instances_per_history": 3})
    result = await handle.result()
    assert sorted(r.key for r in result.instances) == sorted(f"gen/{i}" for i in range(1, 9)) and result.status == "success"
    assert result.instances_run == 8 and sorted(script.started_keys()) == sorted(f"gen/{i}" for i in range(1, 9))  # each ran once
    assert most_at_once(script.events) <= 2
    batches = await listed(client, f'WorkflowType = "{BATCH_WORKFLOW}" AND WorkflowId STARTS_WITH "{handle.id}."',
                           lambda found: len(found) == 2 and all(b.status == WorkflowExecutionStatus.COMPLETED for b in found))
    assert sorted(b.id for b in batches) == [f"{handle.id}.instances.1", f"{handle.id}.instances.2"]  # 3 own, then 3 + 2
    assert all(b.status == WorkflowExecutionStatus.COMPLETED for b in batches)
    own = [e async for e in handle.fetch_history_events() if e.activity_task_scheduled_event_attributes.activity_id.startswith("instance/")]
    assert len(own) == 3
    assert "deterministic" in await replay((await handle.fetch_history()).to_json(), handle.id, FANOUT)


async def test_cancelling_a_run_cancels_its_running_batch(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"gen/[234]": hold})  # the run's own instance ends; the batch's wait
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 4}, max_parallel=4, run={"instances_per_history": 1})
    try:
        for _ in range(100):
            if "gen/2" in script.started_keys():
                break
            await asyncio.sleep(0.1)
        assert "gen/2" in script.started_keys(), script.started_keys()
        await handle.cancel()
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)
        batch = await client.get_workflow_handle(f"{handle.id}.instances.1").describe()
        assert batch.status == WorkflowExecutionStatus.CANCELED
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
        later = [wf async for wf in client.list_workflows(f'WorkflowId = "{handle.id}.instances.2"')]
        assert later == []  # nothing started after the cancel
    finally:
        hold.set()


async def test_the_live_heartbeats_of_a_runs_batched_instances_are_shown_with_its_own(client, scripted_queue):
    """`orchard watch` and the live table read instances' heartbeats from the run's pending
    activities; a batch's are in the batch's workflow, which the progress query names."""
    hold = asyncio.Event()
    script = Script(holds={"gen/[34]": hold})  # the run's own two end; the batch's two wait
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 4}, max_parallel=4, run={"instances_per_history": 2})
    try:
        for _ in range(100):
            snap = await snapshot(client, handle)
            if len(snap.heartbeats) == 2:
                break
            await asyncio.sleep(0.1)
        assert snap.progress.batch == f"{handle.id}.instances.1"
        assert sorted(snap.heartbeats) == ["gen/3", "gen/4"] and snap.heartbeats["gen/4"]["phase"] == "scripted"
    finally:
        hold.set()
    await handle.result()
    assert (await handle.query("progress", result_type=RunProgress)).batch is None
