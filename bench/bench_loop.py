#!/usr/bin/env python3
"""A loop's figures: what an iteration costs beyond its agent, on a small and a large repository,
history events per iteration, and a long loop (killed worker included) end to end.

    python bench/bench_loop.py [--iterations 50] [--files 0,20000] [--long 2000] [--kill-at 1000] [--dir DIR]

Every iteration is real (`run_iteration` on a worker process: the loop's workspace, the agent, the
snapshot, the loop's branch fast-forwarded in the repository) against a Temporal dev server started
for the bench. The agent commits an empty commit, so the branch advances every iteration. The
agent's own cost is measured apart (the same command, run as the runner runs it, in a checkout)
and taken off: what remains is Orchard's per iteration: the activity's own work (workspace check,
snapshot, import) and the workflow's (decision, scheduling, the history).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import IDENTITY, Bench, Histories, bench_setup, histories_of, make_files  # noqa: E402

AGENT = "git commit -q --allow-empty -m tick"


def agent_seconds(repo: Path, reps: int = 30) -> float:
    """The agent's own wall time (bash -c, in a checkout), median of `reps`."""
    checkout = repo.parent / "agent-timing"
    subprocess.run(["git", "clone", "-q", "--shared", str(repo), str(checkout)], check=True)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(["bash", "-c", AGENT], cwd=checkout, check=True, env={**os.environ, **IDENTITY})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def loop_run(bench: Bench, iterations: int, kill_at: int = 0):  # type: ignore[no-untyped-def]
    from workflows.sdk.models import RunInput, TaskDefaults

    run_id = f"bench_loop_{uuid.uuid4().hex[:6]}"
    run_input = RunInput(
        prompt="tick", repo=str(bench.repo), base_branch="main", params={"mode": "fixed", "max_iterations": iterations},
        defaults=TaskDefaults(agent_command=AGENT),
    )
    driven = await bench.drive("loop", run_id, run_input, kill_at)
    return run_id, driven


async def per_iteration(args: argparse.Namespace, files: int) -> None:
    async with bench_setup(None, f"loop{files}", args.dir) as bench:
        if files:
            make_files(bench.repo, files)
        agent = agent_seconds(bench.repo)
        run_id, driven = await loop_run(bench, args.iterations)
        trail = driven.result.instances[0].loop.trail
        first, later = trail[0].duration_seconds, [r.duration_seconds for r in trail[1:]]
        histories = await histories_of(bench.client, run_id)
        phases = [o.agent.metrics["phase_seconds"] for o in await outcomes(histories)][1:]
        own = [sum(v for k, v in p.items() if not k.startswith("agent running")) for p in phases]
        breakdown = ", ".join(f"{k} {statistics.median(p.get(k, 0) for p in phases) * 1000:.1f} ms" for k in phases[0])
        ends = iteration_ends(histories)
        per = statistics.median(b - a for a, b in pairwise(ends))  # from one iteration's end to the next's, the server's clock
        print(f"{files or 'small'} ({files} files) repository, {args.iterations} iterations, agent `{AGENT}` ({agent * 1000:.1f} ms alone)")
        print(f"  iteration 1 activity: {first * 1000:.0f} ms (the workspace's checkout)")
        print(f"  iterations 2+: activity median {statistics.median(later) * 1000:.1f} ms, of which Orchard's (all but the agent's process) "
              f"{statistics.median(own) * 1000:.1f} ms")
        print(f"    by phase (medians): {breakdown}")
        print(f"    the server's clock (medians): {server_phases(histories)}")
        print(f"  per iteration from iteration 2, end to end (median): {per * 1000:.1f} ms; Orchard's: "
              f"{(per - statistics.median(later) + statistics.median(own)) * 1000:.1f} ms "
              f"(the activity's {statistics.median(own) * 1000:.1f} ms and the workflow's {(per - statistics.median(later)) * 1000:.1f} ms: "
              "decision, scheduling, history)")
        print(f"  history events per iteration: {sum(histories.events) / args.iterations:.1f} ({len(histories.events)} histories)")


def iteration_completions(histories: Histories) -> list:  # type: ignore[type-arg]
    """The completed events of every run_iteration activity across the chain, in order."""
    from temporalio.api.enums.v1 import EventType as E

    done = []
    for history in histories.chain:
        scheduled = {e.event_id for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "run_iteration"}
        done += [e for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                 and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled]
    return sorted(done, key=lambda e: e.event_time.ToDatetime())


async def outcomes(histories: Histories) -> list:  # type: ignore[type-arg]
    """Each iteration's outcome, as its activity returned it, across the chain."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    from workflows.loops.models import IterationOutcome

    return [(await pydantic_data_converter.decode(e.activity_task_completed_event_attributes.result.payloads, [IterationOutcome]))[0]
            for e in iteration_completions(histories)]


def iteration_ends(histories: Histories) -> list[float]:
    """When each iteration's activity completed (seconds, the server's clock), across the chain."""
    return [e.event_time.ToDatetime().timestamp() for e in iteration_completions(histories)]


def server_phases(histories: Histories) -> str:
    """Medians, from the history's clock, of what happens between two iterations' activities."""
    from temporalio.api.enums.v1 import EventType as E

    steps = {(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, E.EVENT_TYPE_WORKFLOW_TASK_STARTED): "workflow task waits",
             (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED): "workflow task runs",
             (E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, E.EVENT_TYPE_ACTIVITY_TASK_STARTED): "activity waits",
             (E.EVENT_TYPE_ACTIVITY_TASK_STARTED, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED): "activity runs"}
    gaps: dict[str, list[float]] = {name: [] for name in steps.values()}
    for history in histories.chain:
        for a, b in pairwise(history.events):
            name = steps.get((a.event_type, b.event_type))
            if name:
                gaps[name].append(b.event_time.ToDatetime().timestamp() - a.event_time.ToDatetime().timestamp())
    return ", ".join(f"{name} {statistics.median(v) * 1000:.1f} ms" for name, v in gaps.items() if v)


async def long_loop(args: argparse.Namespace) -> None:
    from client.commands.replay import replay

    async with bench_setup(None, "loop-long", args.dir) as bench:
        run_id, driven = await loop_run(bench, args.long, args.kill_at)
        result = driven.result
        trail = result.instances[0].loop.trail
        histories = await histories_of(bench.client, run_id)
        started = time.perf_counter()
        await replay(histories.largest, run_id, None)
        replayed = time.perf_counter() - started
        commits = subprocess.run(["git", "rev-list", "--count", f"main..{result.instances[0].branch_name}"], cwd=bench.repo, capture_output=True,
                                 text=True).stdout.strip()
        killed = f", worker killed with -9 at iteration {args.kill_at} ({driven.killed_at:.1f} s)" if driven.killed_at else ""
        print(f"{args.long}-iteration loop{killed}")
        print(f"  result: {result.instances[0].status} after {len(trail)} iterations in {result.runs} runs; the branch holds {commits} commits")
        print(f"  wall {driven.wall:.1f} s, {driven.wall / args.long * 1000:.0f} ms per iteration")
        ends = iteration_ends(histories)
        for label, part in (("first", slice(1, 101)), ("last", slice(-100, None))):
            gaps = [b - a for a, b in pairwise(ends[part])]
            activity = statistics.median(r.duration_seconds for r in trail[part])
            print(f"  the {label} 100 iterations: {statistics.median(gaps) * 1000:.0f} ms each end to end (median), the activity {activity * 1000:.0f} ms")
        print(f"  events per history: max {max(histories.events)}; largest history {max(histories.sizes) / 1024:.0f} KiB, replayed in {replayed:.2f} s")


async def main(args: argparse.Namespace) -> None:
    for files in (int(f) for f in args.files.split(",")):
        await per_iteration(args, files)
    if args.long:
        await long_loop(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--files", default="0,20000", help="repository sizes, comma-separated (0: a small one)")
    parser.add_argument("--long", type=int, default=2000, help="iterations of the long loop (0: skip it)")
    parser.add_argument("--kill-at", type=int, default=1000, help="kill the long loop's worker with -9 at this iteration (0: never)")
    parser.add_argument("--dir", help="where the scratch folder goes (default: the system's temp dir)")
    asyncio.run(main(parser.parse_args()))
