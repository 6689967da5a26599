"""ctx.continue_as_new: a long run carries its state, totals, progress and open questions into
fresh runs of one chain that watch, show, cancel, list and the result follow as one run
(scripted activities; tests/e2e/test_long_runs.py does the same with real instances and a killed worker)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from tests.conftest import listed, start_scripted
from tests.scripted import Script
from workflows.sdk.models import Answer, AnswerRequest, RunProgress
from workflows.sdk.visibility import SA_OUTCOME


async def progress_when(handle, ready, attempts: int = 400) -> RunProgress:
    for _ in range(attempts):
        try:
            progress = await handle.query("progress", result_type=RunProgress)
        except Exception:  # between two runs of the chain
            progress = None
        if progress is not None and ready(progress):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError("the run never got there")


async def test_a_chain_counts_every_instance_and_no_history_outgrows_its_threshold(client, scripted_queue):
    script = Script()
    handle = await start_scripted(client, scripted_queue, "long-run", script, params={"n": 20, "every": 6})
    middle = await progress_when(handle, lambda p: p.runs >= 3)
    assert middle.earlier.get("success", 0) >= 12 and len(middle.instances) <= 6  # earlier runs' instances are counted, not listed
    result = await handle.result()
    assert result.instances_run == 20 and result.runs == 4 and result.instances[0].metadata["done"] == 20
    assert script.started_keys() == [f"noop/{i}" for i in range(20)]  # each instance ran once, in order
    runs = await listed(client, f'WorkflowId = "{handle.id}"', lambda runs: len(runs) == 4 and all(r.status != WorkflowExecutionStatus.RUNNING for r in runs))
    assert sorted(r.status for r in runs) == [WorkflowExecutionStatus.COMPLETED] + [WorkflowExecutionStatus.CONTINUED_AS_NEW] * 3
    for run in runs:
        events = [e async for e in client.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history_events()]
        assert len(events) <= 6 * 7 + 20, (run.run_id, len(events))
    shown = [wf async for wf in client.list_workflows(f'WorkflowId = "{handle.id}" AND ExecutionStatus != "ContinuedAsNew"')]
    assert len(shown) == 1  # `orchard list` shows the chain once


async def test_an_open_question_is_carried_across_the_chain_and_answered_once(client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "long-run", Script(), params={"n": 100_000, "every": 4, "stoppable": True})
    later = await progress_when(handle, lambda p: p.runs >= 3 and p.questions)
    assert [q.key for q in later.questions] == ["stop-early"]
    waiting = {wf.id async for wf in client.list_workflows('OrchardWaiting = true AND ExecutionStatus = "Running"')}
    assert handle.id in waiting  # still findable in a later run of the chain
    await handle.execute_update("answer", AnswerRequest(choice="stop", by="carol"), result_type=Answer)
    result = await handle.result()
    assert result.runs >= 3 and result.instances[0].metadata["done"] < 100_000
    assert [(a.key, a.by) for a in result.questions] == [("stop-early", "carol")]


async def test_cancelling_a_chain_cancels_its_latest_run(client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "long-run", Script(delays={"noop/.*": 0.05}), params={"n": 100_000, "every": 5})
    await progress_when(handle, lambda p: p.runs >= 2)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.CANCELED and desc.typed_search_attributes.get(SA_OUTCOME) == "canceled"
