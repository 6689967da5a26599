#!/usr/bin/env python3
"""A large run's figures: n no-op instances asked for at once (the seed's fan-out), in one run.

    python bench/bench_large_run.py [--n 10000] [--max-parallel 64] [--kill-at 5000] [--dir DIR]

The instances are real (`run_instance`: workspace, the agent `true`, cleanup) on a worker process
against a Temporal dev server started for the bench. The run schedules its first 500 instances in
its own history and the rest in batches of 500 in child workflows (workflows/sdk/batches.py);
`--kill-at K` kills the worker with -9 once K instances are done and starts another. Prints the
wall time, instances per second, the histories (the run's and its batches'), their events and
bytes, and the time to replay the largest (Temporal's limit for one workflow task is 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import bench_setup  # noqa: E402

FANOUT = ROOT / "examples" / "fanout_two.py"


async def main(args: argparse.Namespace) -> None:
    from temporalio.client import WorkflowHistory
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from client.commands.replay import replay
    from orchard_common.sandbox import sandbox_runner
    from workflows.sdk.batches import BATCH_WORKFLOW, InstanceBatchWorkflow
    from workflows.sdk.models import RunInput, TaskDefaults

    async with bench_setup(FANOUT, "large", args.dir) as bench:
        client, repo = bench.client, bench.repo
        run_id = f"bench_large_{uuid.uuid4().hex[:6]}"
        run_input = RunInput(
            prompt="nothing to do", repo=str(repo), base_branch="main", params={"n": args.n},
            defaults=TaskDefaults(agent_command="true", import_policy="never"), max_parallel=args.max_parallel, strategy_spec=str(FANOUT),
        )
        driven = await bench.drive("fan-out", run_id, run_input, args.kill_at)
        result, wall, killed_at = driven.result, driven.wall, driven.killed_at

        histories: list[tuple[str, str, WorkflowHistory]] = [
            (wf.id, wf.workflow_type, await client.get_workflow_handle(wf.id).fetch_history())
            async for wf in client.list_workflows(f'WorkflowId = "{run_id}" OR WorkflowId STARTS_WITH "{run_id}."')
        ]
        texts = {wid: history.to_json() for wid, _, history in histories}
        largest_id, kind, largest = max(histories, key=lambda h: len(h[2].events))
        replay_started = time.perf_counter()
        if kind == BATCH_WORKFLOW:
            replayer = Replayer(workflows=[InstanceBatchWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
            await replayer.replay_workflow(largest)
        else:
            await replay(texts[largest_id], largest_id, str(FANOUT))
        replay_seconds = time.perf_counter() - replay_started
        longest_task = max(_workflow_task_seconds(h) for _, _, h in histories)
        run_replay_started = time.perf_counter()
        await replay(texts[run_id], run_id, str(FANOUT))
        run_replay_seconds = time.perf_counter() - run_replay_started

    counted = len(result.instances) + sum(result.omitted.values())
    events = sorted(len(h.events) for _, _, h in histories)
    print(f"{args.n} no-op instances at once (fan-out), max_parallel {args.max_parallel}"
          + (f", worker killed with -9 after {args.kill_at} ({killed_at:.1f} s)" if killed_at else ""))
    print(f"  result: {result.status}, {result.instances_run} instances run, {counted} results ({len(result.instances)} listed, "
          f"{sum(result.omitted.values())} counted)")
    print(f"  wall {wall:.1f} s, {result.instances_run / wall:.1f} instances/s")
    print(f"  histories: {len(histories)} (the run and {len(histories) - 1} batches); events min {events[0]}, max {events[-1]}; JSON max "
          f"{max(len(t) for t in texts.values()) / 1024:.0f} KiB")
    print(f"  longest workflow task on the live workers (the first after the restart replays the run's history): {longest_task:.2f} s")
    print(f"  replaying the largest history ({largest_id}, {len(largest.events)} events): {replay_seconds:.2f} s; the run's own: {run_replay_seconds:.2f} s "
          "(workflow task limit 2 s)")


def _workflow_task_seconds(history) -> float:
    """The longest workflow task of a history, from its started and completed events' times."""
    from temporalio.api.enums.v1 import EventType

    longest, started = 0.0, None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started = event.event_time.ToDatetime()
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started is not None:
            longest = max(longest, (event.event_time.ToDatetime() - started).total_seconds())
    return longest


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--max-parallel", type=int, default=64)
    parser.add_argument("--kill-at", type=int, default=0, help="kill the worker with -9 once this many instances are done")
    parser.add_argument("--dir", help="where the scratch folder goes (default: the system's temp dir)")
    asyncio.run(main(parser.parse_args()))
