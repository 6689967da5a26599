#!/usr/bin/env python3
"""A big tree near its floor: a best-of-n run on a 20,000-file repository against the floor (one
checkout of the tree plus the agents' own commits) and against n `git clone --no-hardlinks`.

    python bench/bench_big_tree.py [--files 20000] [--n 8] [--reps 3] [--dirs /tmp,/dev/shm] \\
        [--code before=../orchard-before] [--code after=.]                                  # as root

For each folder (each disk), the repository is made once there; then, `--reps` times, each Orchard
checkout named by `--code` (in turn, the order swapped every rep, so before and after share the
hour's load) runs, in a process of its own, a Temporal dev server and a worker serving `noop-fan-out`
(n agents that change a file and commit, the local runner): a warm-up run on a tiny repository (the
sandbox's imports), then the timed run on the big one from a cold host (no base checkout), then the
same run again at once (a run or loop back to back from one commit). Beside them, each rep:

- the floor: one checkout of the commit (`git checkout` into a repository borrowing the objects,
  as a base is made, with the same checkout.workers), then the n agents' command at once, each in
  a ready checkout of its own (made beforehand, not timed): what no workspace scheme can go under;
- n `git clone --no-hardlinks` of the repository, one after the other.

Figures are medians over the reps; the ratios are each rep's (one hour's load), their median; the
load average is the 1-minute one when each was taken. Every
measurement starts after `sync`, so no earlier one's writeback is counted. Targets: the run within
1.2x of the floor, and at least 5x faster than the clones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENT = "echo changed >> CHANGED.md && git add -A && git commit -qm 'agent change'"
FLOOR_TARGET, CLONES_TARGET = 1.2, 5.0


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "b@b"}
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout.strip()


def _cpu() -> float:
    """CPU used so far by this process and its children waited for (git, the agents; not the dev
    server, which outlives the run): what a loaded host inflates less than wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _settled() -> float:
    """Everything written so far on its disk (so the next figure pays no earlier writeback); the load then."""
    os.sync()
    return os.getloadavg()[0]


# The run, in a process of its own with the Orchard checkout under test first on its path.

async def measure_run(repo: Path, warm: Path, n: int) -> dict[str, float]:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    import activities.git.overlay as overlay
    import orchard_worker.main as orchard_worker
    from orchard_common.connection import ensure_search_attributes
    from workflows.sdk.models import RunInput, RunResult, TaskDefaults

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=shutil.which("temporal"), data_converter=pydantic_data_converter,
                                                dev_server_log_level="error")
    figures: dict[str, float] = {}
    async with env:
        await ensure_search_attributes(env.client)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with orchard_worker.build_worker(env.client, queue, orchard_worker.strategies_for([str(ROOT / "bench" / "fanout_noop.py")])):
            last_id: list[str] = []
            spent: list[float] = []  # the last run's CPU

            async def run(on: Path, count: int) -> float:
                last_id[:] = [f"bench-{uuid.uuid4().hex[:12]}"]
                inp = RunInput(prompt="change a file", repo=str(on), base_branch="main", params={"n": count}, max_parallel=count,
                               defaults=TaskDefaults(agent_command=AGENT, import_policy="auto", runner="local"))
                started, cpu = time.perf_counter(), _cpu()
                result = await env.client.execute_workflow("noop-fan-out", inp, id=last_id[0], task_queue=queue, result_type=RunResult)
                assert sum(r.success for r in result.instances) == count, [r.error for r in result.instances]
                took = time.perf_counter() - started
                spent[:] = [_cpu() - cpu]
                return took

            await run(warm, 1)  # the sandbox imports the workflow modules once: not the run's cost
            await overlay.finished()
            figures["load"] = _settled()
            timeline = Path(tempfile.mkdtemp()) / "timeline"
            os.environ["ORCHARD_TIMELINE"] = str(timeline)  # marks of the base's and each instance's steps (activities/timeline.py)
            figures["run"] = await run(repo, n)
            ended = time.time()
            figures["run cpu"] = spent[0]
            os.environ.pop("ORCHARD_TIMELINE")
            figures |= await phases(env.client, last_id[0], timeline, ended)
            figures["again"] = await run(repo, n)  # back to back from the same commit
            figures["again cpu"] = spent[0]
        if hasattr(overlay, "release_bases"):
            await overlay.release_bases()
        await overlay.finished()
    return figures


PHASES = {
    "start to the first instance": ("run started", "first instance started"),
    "base made (checkout + index)": ("first instance started", "base ready"),
    "  of which the index step": ("base checked out", "base ready"),
    "first workspace ready to the last agent done": ("first workspace ready", "last agent done"),
    "last agent done to its import done": ("last agent done", "last imported"),
    "last import to the last instance done": ("last imported", "last instance done"),
    "last instance done to the run done": ("last instance done", "run done"),
    "run done to the caller seeing it": ("run done", "caller saw it"),
}
"""A run's phases (the first run, from a cold host), from the run's history and the marks its
activities wrote: each the time between two moments (a mark absent from the code measured: none)."""


async def phases(client: Any, workflow_id: str, timeline: Path, ended: float) -> dict[str, float]:
    from temporalio.api.enums.v1 import EventType

    moments: dict[str, float] = {"caller saw it": ended}
    scheduled: dict[int, str] = {}  # an activity's scheduled event: its type
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        when = event.event_time.ToDatetime().timestamp() if hasattr(event.event_time, "ToDatetime") else event.event_time.timestamp()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            moments["run started"] = when
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            moments["run done"] = when
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and \
                scheduled.get(event.activity_task_started_event_attributes.scheduled_event_id) == "run_instance":
            moments["first instance started"] = min(when, moments.get("first instance started", when))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and \
                scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id) == "run_instance":
            moments["last instance done"] = when
    marks = [line.split(" ", 2) for line in timeline.read_text().splitlines()] if timeline.exists() else []
    for name, step, pick in (("base checked out", "base: checked out", min), ("base ready", "base: ready", min),
                             ("first workspace ready", "activity: workspace ready", min), ("last agent done", "activity: agent done", max),
                             ("last imported", "activity: imported", max)):
        times = [float(t) for t, _, s in marks if s == step]
        if times:
            moments[name] = pick(times)
    return {f"phase: {label}": moments[b] - moments[a] for label, (a, b) in PHASES.items() if a in moments and b in moments}


def run_in(code: Path, repo: Path, warm: Path, n: int, scratch: Path) -> dict[str, float]:
    home = scratch / f"home-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": str(code), "ORCHARD_HOME": str(home)}
    env.pop("ORCHARD_BASE_GRACE", None)
    proc = subprocess.run([sys.executable, __file__, "--measure-run", str(repo), str(warm), str(n)], cwd=code, env=env, capture_output=True, text=True)
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the run with {code} failed: {proc.stderr.strip()[-2000:]}")
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


# The floor and the clones, in this process.

def floor(repo: Path, head: str, ready: list[Path], scratch: Path) -> tuple[float, float, float, float]:
    """(one checkout, the agents' commits at once in their ready checkouts, load, the CPU of both)."""
    load = _settled()
    tree = scratch / "floor"
    tree.mkdir()
    started, cpu = time.perf_counter(), _cpu()
    _git("init", "-q", cwd=tree)
    (tree / ".git" / "objects" / "info" / "alternates").write_text(f"{repo / '.git' / 'objects'}\n")
    _git("-c", "checkout.workers=4", "checkout", "-q", "--detach", head, cwd=tree)
    checkout = time.perf_counter() - started
    started = time.perf_counter()
    agents = [subprocess.Popen(["bash", "-c", AGENT], cwd=r, env={**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@a",
                                                                 "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@a"}) for r in ready]
    assert all(a.wait() == 0 for a in agents)
    commits = time.perf_counter() - started
    spent = _cpu() - cpu
    for r in ready:  # back where it was, its index stat-clean again for the next rep
        _git("reset", "-q", "--hard", "HEAD~1", cwd=r)
        _git("update-index", "-q", "--refresh", cwd=r)
    shutil.rmtree(tree)
    return checkout, commits, load, spent


def clones(repo: Path, n: int, scratch: Path) -> tuple[float, float]:
    load = _settled()
    folder = scratch / "clones"
    folder.mkdir()
    started = time.perf_counter()
    for i in range(n):
        _git("clone", "--quiet", "--no-hardlinks", str(repo), str(folder / f"clone{i}"), cwd=folder)
    took = time.perf_counter() - started
    shutil.rmtree(folder)
    return took, load


def bench(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.bench_instances import fs_type, make_big_repo, table

    codes = [(label, Path(path).resolve()) for label, path in (c.split("=", 1) for c in args.code)]
    rows: list[list[str]] = []
    phase_rows: list[list[str]] = []
    for where in args.dirs:
        scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-tree-", dir=where)).resolve()
        try:
            repo = make_big_repo(scratch / "repo", args.files)
            warm = make_big_repo(scratch / "warm", 10)
            ready = [scratch / "ready" / f"r{i}" for i in range(args.n)]
            for r in ready:
                _git("clone", "-q", "--shared", str(repo.path), str(r), cwd=scratch)
            figures: dict[str, list[float]] = {}
            for rep in range(args.reps):
                for label, code in codes if rep % 2 == 0 else codes[::-1]:
                    got = run_in(code, repo.path, warm.path, args.n, scratch)
                    for key, value in got.items():
                        figures.setdefault(f"{label} {key}", []).append(value)
                    print(f"  {where} rep {rep + 1} {label}: run {got['run']:.2f} s ({got.get('run cpu', 0):.2f} s CPU), again {got['again']:.2f} s "
                          f"(load {got['load']:.1f})", flush=True)
                checkout, commits, load, spent = floor(repo.path, repo.head, ready, scratch)
                figures.setdefault("floor cpu", []).append(spent)
                figures.setdefault("checkout", []).append(checkout)
                figures.setdefault("commits", []).append(commits)
                figures.setdefault("floor", []).append(checkout + commits)
                figures.setdefault("floor load", []).append(load)
                cloned, load = clones(repo.path, args.n, scratch)
                figures.setdefault("clones", []).append(cloned)
                figures.setdefault("clones load", []).append(load)
                print(f"  {where} rep {rep + 1}: floor {checkout:.2f} + {commits:.2f} s ({spent:.2f} s CPU), clones {cloned:.2f} s", flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        med = {key: statistics.median(values) for key, values in figures.items()}
        for label, _ in codes:
            runs = figures[f"{label} run"]
            # The ratios are taken within each rep (the same hour's load), then their median.
            to_floor = statistics.median(r / f for r, f in zip(runs, figures["floor"], strict=True))
            to_clones = statistics.median(c / r for r, c in zip(runs, figures["clones"], strict=True))
            rows.append([f"{where} ({fs_type(Path(where))})", label, f"{med[label + ' run']:.2f} s", f"{med[label + ' again']:.2f} s",
                         f"{med['floor']:.2f} s ({med['checkout']:.2f} + {med['commits']:.2f})", f"{to_floor:.2f}x",
                         f"{med['clones']:.2f} s", f"{to_clones:.1f}x",
                         f"{med[label + ' load']:.1f} / {med['floor load']:.1f} / {med['clones load']:.1f}"])
        phase_rows.extend([where, label, *(f"{med[key]:.2f} s" if (key := f"{code} phase: {label}") in med else "-" for code, _ in codes)]
                          for label in PHASES)
        phase_rows.append([where, "the floor: checkout / the agents' commits", *[f"{med['checkout']:.2f} s / {med['commits']:.2f} s"] * len(codes)])
        phase_rows.append([where, "CPU: the run (worker, git, agents) / the floor", *(
            f"{med[f'{code} run cpu']:.2f} s / {med['floor cpu']:.2f} s" if f"{code} run cpu" in med else "-" for code, _ in codes)])
    table(f"best-of-{args.n} on {args.files:,} files (medians of {args.reps}): the run, the floor (one checkout + the agents' commits), "
          f"{args.n} clones",
          ["disk", "code", "run", "again", "floor", f"run/floor (<= {FLOOR_TARGET:g})", f"{args.n} clones", f"clones/run (>= {CLONES_TARGET:g})",
           "load: run / floor / clones"], rows)
    table(f"where the first run's time goes (medians of {args.reps}; '-': a step the code measured does not mark)",
          ["disk", "phase", *(label for label, _ in codes)], phase_rows)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--measure-run":
        sys.path.insert(0, os.getcwd())  # the checkout under test, before this file's own
        print(json.dumps(asyncio.run(measure_run(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])))), flush=True)
        os._exit(0)  # not the SDK's threads' teardown at exit (it can abort the process)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dirs", default="/tmp,/dev/shm", type=lambda s: s.split(","))
    parser.add_argument("--code", action="append", default=None, metavar="LABEL=PATH", help="an Orchard checkout to measure (repeatable; default: this one)")
    args = parser.parse_args()
    args.code = args.code or [f"this={ROOT}"]
    if os.geteuid() != 0:
        raise SystemExit("overlay workspaces need root: run this as root")
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
