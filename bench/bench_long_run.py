#!/usr/bin/env python3
"""A long run's figures: n no-op instances in sequence, continuing as new every `every` instances.

    python bench/bench_long_run.py [--n 1000] [--every 100] [--kill-at 500] [--dir DIR]

The instances are real (`run_instance`: workspace, the agent `true`, cleanup) on a worker process
against a Temporal dev server started for the bench; `--kill-at K` kills the worker with -9 once
K instances are done and starts another. Prints the wall time, instances per second, the runs of
the chain, events and bytes per history, and the time to replay the largest history (Temporal's
limit for one workflow task is 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import bench_setup, histories_of  # noqa: E402

LONG_RUN = ROOT / "examples" / "long_run.py"


async def main(args: argparse.Namespace) -> None:
    from client.commands.replay import replay
    from workflows.sdk.models import RunInput, TaskDefaults

    async with bench_setup(LONG_RUN, "long", args.dir) as bench:
        client, repo = bench.client, bench.repo
        run_id = f"bench_long_{uuid.uuid4().hex[:6]}"
        run_input = RunInput(
            prompt="nothing to do", repo=str(repo), base_branch="main", params={"n": args.n, "every": args.every},
            defaults=TaskDefaults(agent_command="true", import_policy="never"), max_parallel=1, strategy_spec=str(LONG_RUN),
        )
        driven = await bench.drive("long-run", run_id, run_input, args.kill_at)
        result, wall, killed_at = driven.result, driven.wall, driven.killed_at

        histories = await histories_of(client, run_id)
        counts, sizes = histories.events, histories.sizes
        replay_started = time.perf_counter()
        await replay(histories.largest, run_id, str(LONG_RUN))  # the same JSON `orchard history` writes
        replay_seconds = time.perf_counter() - replay_started

    print(f"{args.n} no-op instances in sequence, continue-as-new every {args.every}"
          + (f", worker killed with -9 after {args.kill_at} ({killed_at:.1f} s)" if killed_at else ""))
    print(f"  result: {result.status}, {result.instances_run} instances counted, {result.runs} runs in the chain")
    print(f"  wall {wall:.1f} s, {result.instances_run / wall:.1f} instances/s")
    print(f"  events per history: min {min(counts)}, median {statistics.median(counts):g}, max {max(counts)}")
    print(f"  history JSON per run: median {statistics.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")
    print(f"  replaying the largest history: {replay_seconds:.2f} s (workflow task limit 2 s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--kill-at", type=int, default=0, help="kill the worker with -9 once this many instances are done")
    parser.add_argument("--dir", help="where the scratch folder goes (default: the system's temp dir)")
    asyncio.run(main(parser.parse_args()))
