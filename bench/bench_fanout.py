#!/usr/bin/env python3
"""A fan-out against the engine's floor: n no-op instances, and n no-op activities of a trivial workflow.

    python bench/bench_fanout.py [--sizes 500,2000,10000] [--processes 1,2] [--floor 2000] [--isolation 2000] [--max-parallel 64] [--reps 1]
                                 [--compare CHECKOUT] [--dir DIR]

Each case gets a Temporal dev server of its own (started for it, stopped after) and worker
processes started for it:
- the floor: `bench/engine_floor.py`, one workflow running `--floor` activities that do nothing,
  `--max-parallel` at a time, on one worker process of the Temporal SDK and nothing of Orchard's;
- the isolation floor: `bench/isolation_floor.py`, the same workflow running `--isolation` activities
  that each do what an isolated instance cannot avoid (an overlay workspace mounted and unmounted,
  bubblewrap running `true` with the arguments Orchard's sandbox gives a no-op agent), one worker process;
- Orchard: `python worker.py --processes P` serving bench/fanout_noop.py, one run of n real instances
  (`run_instance`: a workspace, the command plugin running `true`, the result recorded, cleanup), max_parallel
  `--max-parallel`, for each n of `--sizes` and each P of `--processes`.
Prints for each: wall, instances (activities) per second, the worker processes' CPU per instance (their
own and the git processes they ran, from /proc, measured from when they poll to the run's end), the
server's CPU in cores, and the rate's ratio to each floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import bench_setup  # noqa: E402

FANOUT = ROOT / "bench" / "fanout_noop.py"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    case: str
    n: int
    wall: float
    worker_cpu: float
    own_cpu: float
    """The worker processes' own CPU (without the processes they ran)."""
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.n / self.wall

    def line(self, floor: float | None, isolation: float | None = None) -> str:
        ratio = f"{floor / self.rate:5.2f}x" if floor else "   — "
        against = f"  isolation/rate {isolation / self.rate:5.2f}x" if isolation else ""
        return (f"  {self.case:<22} n={self.n:<6} wall {self.wall:7.1f} s  {self.rate:6.1f} /s  "
                f"worker {1000 * self.worker_cpu / self.n:5.2f} ms CPU each ({1000 * self.own_cpu / self.n:5.2f} its own)  "
                f"server {self.server_cpu / self.wall:4.2f} cores  floor/rate {ratio}{against}")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(root: int, children: bool = True) -> float:
    """CPU seconds of a process and its live descendants, with the children each has reaped (git,
    the agent's runner) unless `children` is False."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        found = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(found)
        frontier.extend(found)
    ticks = 0
    for pid in tree:
        if (fields := _stat(pid)) is not None:
            ticks += sum(int(f) for f in fields[11:15 if children else 13])  # utime, stime, cutime, cstime
    return ticks / TICKS


def server_pid() -> int:
    """The dev server this process started (its child running the temporal binary)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and int(fields[1]) == os.getpid():
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if b"server" in f.read():
                    return int(entry.name)
    raise SystemExit("the dev server's process was not found")


async def _polled(client, queue: str, pollers: int) -> None:  # type: ignore[no-untyped-def]
    """Until `pollers` worker processes poll the queue for workflow tasks (their start is not the run's cost)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    identities: set[str] = set()
    deadline = time.monotonic() + 120
    while len(identities) < pollers:
        if time.monotonic() > deadline:
            raise SystemExit(f"{pollers} worker process(es) never polled {queue}")
        request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        response = await client.workflow_service.describe_task_queue(request)
        identities = {p.identity for p in response.pollers}
        await asyncio.sleep(0.2)


async def _serving(log: Path, processes: int) -> None:
    """Until the worker's `processes` processes say they serve (their start is not the run's cost)."""
    deadline = time.monotonic() + 120
    while sum(" serving " in line for line in log.read_text().splitlines()) < processes:
        if time.monotonic() > deadline:
            raise SystemExit(f"{processes} worker process(es) never served: {log.read_text()[-1000:]}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # their pollers reach the server


async def floor(n: int, parallel: int, scratch: str | None, isolated: bool = False) -> Figures:
    """The engine's floor, or (`isolated`) the isolation floor: bench/isolation_floor.py's activities
    each make an overlay workspace and run the sandbox's `true` in it, as Orchard's instances must."""
    from bench.engine_floor import FLOOR_WORKFLOW
    from bench.isolation_floor import ISOLATION_WORKFLOW

    async with bench_setup(None, "isolation" if isolated else "floor", scratch) as bench:
        argv = [sys.executable, str(ROOT / "bench" / "engine_floor.py"), "--address", bench.address, "--task-queue", bench.queue]
        if isolated:
            base = bench.repo.parent / "base"  # the lower layer: the repository's tree, as Orchard's base checkout of it
            base.mkdir()
            subprocess.run(f"git -C {bench.repo} archive HEAD | tar -x -C {base}", shell=True, check=True)
            argv = [sys.executable, str(ROOT / "bench" / "isolation_floor.py"), *argv[2:], "--base", str(base), "--scratch", str(bench.repo.parent)]
        worker = subprocess.Popen(argv, cwd=ROOT)
        try:
            await _polled(bench.client, bench.queue, 1)
            server = server_pid()
            cpu0, own0, server0, started = tree_cpu(worker.pid), tree_cpu(worker.pid, False), tree_cpu(server), time.perf_counter()
            done = await bench.client.execute_workflow(ISOLATION_WORKFLOW if isolated else FLOOR_WORKFLOW, args=[n, parallel],
                                                       id=f"floor-{uuid.uuid4().hex[:6]}", task_queue=bench.queue)
            wall = time.perf_counter() - started
            assert done >= n
            if done > n:
                print(f"  (the isolation floor's bubblewrap set up its sandbox again {done - n} times, as Orchard's retries)")
            return Figures("isolation floor" if isolated else "floor (engine)", n, wall, tree_cpu(worker.pid) - cpu0, tree_cpu(worker.pid, False) - own0,
                           tree_cpu(server) - server0)
        finally:
            _stop(worker)
            if isolated:  # the floor's workspaces' folder, a mount of its own (bench/isolation_floor.py)
                ctypes.CDLL(None, use_errno=True).umount2(os.fsencode(bench.repo.parent / "orchard-home" / "ws"), 2)


async def orchard(n: int, processes: int, parallel: int, scratch: str | None, code: Path = ROOT) -> Figures:
    from orchard_common.strategy_loader import load_strategy
    from workflows.sdk.models import RunInput, RunResult, TaskDefaults
    from workflows.sdk.visibility import run_search_attributes

    strategy = load_strategy(str(FANOUT)).name()
    async with bench_setup(FANOUT, "fanout", scratch, worker_args=["--processes", str(processes)] if processes > 1 else [], code=code) as bench:
        worker = bench.start_worker()
        try:
            await _serving(bench.log, processes)
            server = server_pid()
            run_input = RunInput(prompt="nothing to do", repo=str(bench.repo), base_branch="main", params={"n": n},
                                 defaults=TaskDefaults(agent_command="true", import_policy="never"), max_parallel=parallel, strategy_spec=str(FANOUT))
            cpu0, own0, server0, started = tree_cpu(worker.pid), tree_cpu(worker.pid, False), tree_cpu(server), time.perf_counter()
            run_id = f"fanout-{uuid.uuid4().hex[:6]}"
            result = await bench.client.execute_workflow(
                strategy, run_input, id=run_id, task_queue=bench.queue, result_type=RunResult,
                search_attributes=run_search_attributes(strategy, str(bench.repo)),
            )
            wall = time.perf_counter() - started
            cpu, own, server_cpu = tree_cpu(worker.pid) - cpu0, tree_cpu(worker.pid, False) - own0, tree_cpu(server) - server0
            if result.instances_run != n:
                raise SystemExit(f"the run ran {result.instances_run} instances of {n}")
            tasks, histories = await _workflow_tasks(bench.client, run_id)
            print(f"  (the run's workflow tasks: {tasks} in {histories} histories, {tasks / n:.2f} per instance)")
            retried = sum("could not make the sandbox" in line for line in bench.log.read_text(errors="replace").splitlines())
            if retried:
                print(f"  (Orchard's sandbox runner set up a sandbox again {retried} times)")
            label = f"orchard, {processes} process{'es' if processes > 1 else ''}" + ("" if code == ROOT else f" ({code.name})")
            return Figures(label, n, wall, cpu, own, server_cpu)
        finally:
            _stop(worker)


async def _workflow_tasks(client, run_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The workflow tasks completed for a run: its own and its batches' (child workflows), and how many histories."""
    from temporalio.api.enums.v1 import EventType

    tasks, histories, ids = 0, 0, [run_id]
    while ids:
        history = await client.get_workflow_handle(ids.pop()).fetch_history()
        histories += 1
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                tasks += 1
            elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                ids.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
    return tasks, histories


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _median(runs: list[Figures]) -> Figures:
    return sorted(runs, key=lambda f: f.wall)[len(runs) // 2]


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    processes = [int(p) for p in args.processes.split(",") if p]
    print(f"machine: {os.cpu_count()} cores; load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    floor_rate = isolation_rate = None
    if args.floor:
        figures = _median([await floor(args.floor, args.max_parallel, args.dir) for _ in range(args.reps)])
        floor_rate = figures.rate
        print(figures.line(None), flush=True)
    if args.isolation:
        figures = _median([await floor(args.isolation, args.max_parallel, args.dir, isolated=True) for _ in range(args.reps)])
        isolation_rate = figures.rate
        print(figures.line(floor_rate), flush=True)
    for n in sizes:
        for p in processes:
            runs, before = [], []
            for _ in range(args.reps):  # interleaved with the code compared, if any
                runs.append(await orchard(n, p, args.max_parallel, args.dir))
                if args.compare and p == 1:
                    before.append(await orchard(n, p, args.max_parallel, args.dir, Path(args.compare)))
            print(_median(runs).line(floor_rate, isolation_rate), flush=True)
            if before:
                print(_median(before).line(floor_rate, isolation_rate), flush=True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; medians of {args.reps} by wall time")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--processes", default="1,2", help="worker processes for Orchard's runs (worker.py --processes)")
    parser.add_argument("--floor", type=int, default=2000, help="activities of the floor's workflow (0: no floor)")
    parser.add_argument("--isolation", type=int, default=2000,
                        help="activities of the isolation floor's workflow, each an overlay workspace and the sandbox's `true` (0: none)")
    parser.add_argument("--max-parallel", type=int, default=64)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--compare", metavar="CHECKOUT", help="also run one worker process of another checkout of Orchard, interleaved (before and after)")
    parser.add_argument("--dir", help="where the scratch folders go (default: the system's temp dir)")
    asyncio.run(main(parser.parse_args()))
