"""The workflow task in which a strategy asks for as many instances at once as a run accepts
(RUN_INSTANCES_LIMIT) stays far under Temporal's 2 s limit for one workflow task, on replay of a
recorded run of that size (tests/histories/large/; `python -m tests.workflows.sdk.test_large_ask`
records it again after a deliberate change of what those tasks decide)."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchard_common.sandbox import sandbox_runner
from orchard_common.strategy_loader import load_strategy
from tests.conftest import ROOT
from workflows.sdk.context import RUN_INSTANCES_LIMIT

pytestmark = pytest.mark.slow  # the asks of 12,000 instances replayed a few times: seconds

FANOUT = str(ROOT / "examples" / "fanout_two.py")
RECORDED = ROOT / "tests" / "histories" / "large" / "fan-out-12000.json"
"""A fan-out of RUN_INSTANCES_LIMIT instances (max_parallel 64), through its second workflow task
and what it asked for: the first asks for the base commit, the second for every instance."""
TASK_CPU_BOUND = 1.5
"""Seconds of CPU the asks' workflow task may take on replay (the median of three), under Temporal's
2 s limit (in wall time) with room for a loaded machine: 0.8-1.0 s here at load 8, where the code
before took 1.5-2.3 s."""


def _through_task(history: dict, task: int) -> str:
    """The history's JSON through its `task`-th completed workflow task (1-based)."""
    completed = [i for i, e in enumerate(history["events"]) if e["eventType"] in ("EVENT_TYPE_WORKFLOW_TASK_COMPLETED", "WorkflowTaskCompleted")]
    return json.dumps({**history, "events": history["events"][: completed[task - 1] + 1]})


async def test_the_task_asking_for_as_many_instances_as_a_run_accepts_replays_far_under_the_limit():
    history = json.loads(RECORDED.read_text())
    scheduled = [e["activityTaskScheduledEventAttributes"]["activityId"] for e in history["events"] if "activityTaskScheduledEventAttributes" in e]
    assert sum(i.startswith("instance/") for i in scheduled) == 64  # the asks' task: max_parallel of them at once

    strategy = load_strategy(FANOUT)
    replayer = Replayer(workflows=[strategy.workflow_class()], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())

    async def replay_cpu(text: str) -> float:
        gc.collect()
        started = time.process_time()
        result = await replayer.replay_workflow(WorkflowHistory.from_json("fan-out", text), raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure  # deterministic, and within Temporal's deadlock limit
        return time.process_time() - started

    before, asks = _through_task(history, 1), json.dumps(history)
    await replay_cpu(asks)  # the sandbox's first imports are not the task's
    costs = sorted([await replay_cpu(asks) - await replay_cpu(before) for _ in range(3)])
    assert costs[1] < TASK_CPU_BOUND, f"the asks' workflow task took {costs} s of CPU on replay"


async def record() -> None:
    """Run the fan-out against scripted instances (held) on a dev server of its own, with no deadlock
    detection (a loaded machine must not fail the recording), and keep its first two tasks."""
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from client.embedded.dev_settings import temporal_binary
    from orchard_common.connection import ensure_search_attributes
    from tests.conftest import start_scripted
    from tests.scripted import SCRIPTED_ACTIVITIES, Script
    from workflows.sdk.batches import InstanceBatchWorkflow

    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter,
                                                     dev_server_log_level="error") as env:
        await ensure_search_attributes(env.client)
        queue = f"record-{uuid.uuid4().hex[:6]}"
        hold = asyncio.Event()
        async with Worker(env.client, task_queue=queue, workflows=[load_strategy(FANOUT).workflow_class(), InstanceBatchWorkflow],
                          activities=list[Any](SCRIPTED_ACTIVITIES), workflow_runner=sandbox_runner(), debug_mode=True):
            handle = await start_scripted(env.client, queue, "fan-out", Script(holds={"gen/.*": hold}), params={"n": RUN_INSTANCES_LIMIT}, max_parallel=64)
            while not any([e.activity_task_scheduled_event_attributes.activity_id.startswith("instance/") async for e in handle.fetch_history_events()]):
                await asyncio.sleep(0.2)
            history = json.loads((await handle.fetch_history()).to_json())
            hold.set()
            await handle.terminate()
    RECORDED.parent.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps(history))


if __name__ == "__main__":
    asyncio.run(record())
    print(f"recorded {Path(RECORDED).relative_to(ROOT)}")
