"""Provider limits pause an instance, never fail it: the run waits on a durable timer until the
limit resets, then runs the instance again resuming its agent's session (scripted activities)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from client.render import progress_lines
from orchard_common.sandbox import sandbox_runner
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from workflows.coordination.quota import QuotaWorkflow
from workflows.sdk.batches import InstanceBatchWorkflow
from workflows.sdk.models import RunProgress
from workflows.sdk.quota import QuotaReport, QuotaState, backoff, quota_id
from workflows.sdk.visibility import MEMO_QUOTA


async def _progress(handle: WorkflowHandle) -> RunProgress:  # type: ignore[type-arg]
    return await handle.query("progress", result_type=RunProgress)


async def test_an_instance_at_a_limit_waits_until_its_reset_and_resumes_its_session(client, scripted_queue):
    script = Script(limits={"gen/1": [0.4]}, usage={"gen/.*": (100, 10, 0.25)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 2})
    waiting = await until(lambda: _waiting(handle))
    assert waiting.quota_until is not None and waiting.quota_until > datetime.now(UTC)
    assert {p.key: p.status for p in waiting.instances}["gen/1"] == "running"  # waiting, not failed
    memo = await until(lambda: _memo(handle))
    assert memo == waiting.quota_until.isoformat()  # what `orchard pending` reads without a worker
    assert progress_lines(waiting)[0] == f"waiting for quota until {waiting.quota_until.astimezone():%H:%M}"
    result = await final_result(handle)
    assert result.status == "success"
    first, again = [c for c in script.calls if c.key == "gen/1"]
    assert (first.resume_session, first.quota_pauses) == (None, 0)
    assert (again.resume_session, again.quota_pauses) == ("session-gen/1", 1)
    one = next(r for r in result.instances if r.key == "gen/1")
    assert one.success and one.quota is None and one.metrics["quota_pauses"] == 1
    assert one.cost_usd == 0.5  # the paused attempt's spend counts
    assert (await _progress(handle)).quota_until is None
    assert await _memo(handle) is None


async def _memo(handle: WorkflowHandle) -> str | None:  # type: ignore[type-arg]
    return (await (await handle.describe()).memo()).get(MEMO_QUOTA)


async def _waiting(handle: WorkflowHandle) -> RunProgress | None:  # type: ignore[type-arg]
    progress = await _progress(handle)
    return progress if progress.quota_until is not None else None


async def test_an_instance_hitting_limits_again_and_again_pauses_each_time_and_never_fails(client, scripted_queue):
    script = Script(limits={"gen": [0.2, 0.2, 0.2]})
    result = await final_result(await start_scripted(client, scripted_queue, "my-simple", script))
    assert result.status == "success"
    assert [c.quota_pauses for c in script.calls] == [0, 1, 2, 3]
    assert result.instances[0].metrics["quota_pauses"] == 3


def test_the_backoff_doubles_from_30_seconds_up_to_15_minutes():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 6, 60)] == [30, 60, 120, 900, 900]


@pytest.mark.slow  # waits for real timers of about a second
async def test_the_quota_workflow_keeps_the_latest_reset_refuses_a_past_one_and_ends_after_it(client):
    queue = "quota-" + datetime.now(UTC).strftime("%H%M%S%f")
    fingerprint = "f" * 16
    async with Worker(client, task_queue=queue, workflows=[QuotaWorkflow]):
        soon = datetime.now(UTC) + timedelta(seconds=0.5)
        handle = await client.start_workflow(QuotaWorkflow.run, QuotaState(fingerprint=fingerprint, until=soon), id=quota_id(fingerprint) + queue,
                                             task_queue=queue)
        state = await handle.execute_update(QuotaWorkflow.pause, QuotaReport(until=soon + timedelta(seconds=1), reason="429", run_id="run-a"))
        assert (state.until, state.runs) == (soon, ["run-a"])  # the same reset, seen a moment later: the pause keeps its end
        later = soon + timedelta(seconds=2.5)
        state = await handle.execute_update(QuotaWorkflow.pause, QuotaReport(until=later, reason="429", run_id="run-a"))
        assert (state.until, state.runs) == (later, ["run-a"])
        state = await handle.execute_update(QuotaWorkflow.pause, QuotaReport(until=soon, reason="429", run_id="run-b"))
        assert state.until == later and state.runs == ["run-a", "run-b"]  # an earlier reset does not shorten the pause
        try:
            await handle.execute_update(QuotaWorkflow.pause, QuotaReport(until=datetime.now(UTC) - timedelta(seconds=5)))
            raise AssertionError("a pause in the past was taken")
        except Exception as e:  # noqa: BLE001 - the update is rejected by its validator
            assert "in the future" in str(e.__cause__ or e)
        ended = await asyncio.wait_for(handle.result(), 10)
        assert ended.until == later and datetime.now(UTC) >= later



async def test_a_run_shows_the_wait_of_an_instance_in_one_of_its_batches(client, scripted_queue):
    script = Script(limits={"gen/3": [0.8]})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 3}, max_parallel=3, run={"instances_per_history": 1})
    waiting = await until(lambda: _waiting(handle))  # gen/3 waits in a batch child workflow: the run says so
    assert {p.key: p.quota_until for p in waiting.instances}["gen/3"] == waiting.quota_until
    assert progress_lines(waiting)[0] == f"waiting for quota until {waiting.quota_until.astimezone():%H:%M}"
    assert await until(lambda: _memo(handle)) == waiting.quota_until.isoformat()
    result = await final_result(handle)
    assert result.status == "success" and [c.quota_pauses for c in script.calls if c.key == "gen/3"] == [0, 1]
    batch = client.get_workflow_handle(f"{handle.id}.instances.1")  # the batch told its run, and its history replays
    replayer = Replayer(workflows=[InstanceBatchWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    assert (await replayer.replay_workflow(await batch.fetch_history(), raise_on_replay_failure=False)).replay_failure is None
    assert (await _progress(handle)).quota_until is None and await _memo(handle) is None


async def test_a_run_shows_the_wait_of_its_child_runs(client, scripted_queue):
    script = Script(limits={"candidate/1": [0.8]})
    handle = await start_scripted(client, scripted_queue, "composed", script)
    waiting = await until(lambda: _waiting(handle))  # a best-of-n child waits: its parent says so
    assert waiting.quota_until > datetime.now(UTC) - timedelta(seconds=5)
    assert await until(lambda: _memo(handle)) is not None
    result = await final_result(handle)
    assert result.status == "success"
    assert (await _progress(handle)).quota_until is None and await _memo(handle) is None
