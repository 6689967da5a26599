"""The engine's floor for a fan-out: one trivial workflow running n no-op activities, `parallel` at a time.

    python bench/engine_floor.py --address HOST:PORT --task-queue Q   (a worker for it; bench_fanout.py starts it)

No Orchard code: what the dev server and one Python worker process of the Temporal SDK do for an
activity that does nothing, the rate a fan-out of Orchard's could reach at most on the same server.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

FLOOR_WORKFLOW = "engine-floor"


@activity.defn(name="engine-floor-noop")
async def noop(i: int) -> int:
    return i


@workflow.defn(name=FLOOR_WORKFLOW, sandboxed=False)
class EngineFloorWorkflow:
    @workflow.run
    async def run(self, n: int, parallel: int) -> int:
        free = asyncio.Semaphore(parallel)

        async def one(i: int) -> int:
            async with free:
                return await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=60))

        return len(await asyncio.gather(*(one(i) for i in range(n))))


async def serve(address: str, task_queue: str, workflow_class: type = EngineFloorWorkflow, activity_fn: Callable[..., Any] = noop) -> None:
    """Serve a floor's workflow and activity until killed (bench/isolation_floor.py serves its own)."""
    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, workflows=[workflow_class], activities=[activity_fn], max_concurrent_activities=200):
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))
