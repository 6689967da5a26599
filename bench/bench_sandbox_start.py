"""One sandbox's start and end: bubblewrap with an agent's mounts and namespaces running `true`, as
the sandbox runner makes it (plan_for, bwrap_argv), for this checkout and, with --compare, another,
taken in turns. With --mounts N, N other workspaces' overlays are mounted beside it (as a fan-out's
siblings are) while it is timed; with --churn, they come and go meanwhile (a workspace made, another
removed, folder and all), and the starts bubblewrap refused are counted. As root (overlays).

    python bench/bench_sandbox_start.py --dir /dev/shm [--reps 30] [--mounts 0,200] [--churn] [--compare /path/to/checkout]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MNT_DETACH = 2
PLAN = """
import json, sys
from pathlib import Path
from activities.runners.sandbox.mounts import bwrap_argv
from activities.runners.sandbox.runner import plan_for
from workflows.sdk.models import TaskSpec
home, objects = Path(sys.argv[1]), Path(sys.argv[2])
workspace, agent_home = home / "workspaces/run_bench/k00000001", home / "agent-homes/run_bench/k00000001"
task = TaskSpec(prompt="p", base_branch="main", agent_command="true", runner="sandbox", network_egress="offline")
plan = plan_for(task, "true", workspace=workspace, agent_home=agent_home, objects=objects, relayed_hosts=[])
print(json.dumps([str(plan.tmp), *bwrap_argv(plan)]))
"""


def argv_of(checkout: Path, home: Path, objects: Path) -> list[str]:
    """The sandbox that checkout's runner makes for a no-op agent (bubblewrap's argv, ending in `true`)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "ORCHARD_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", PLAN, str(home), str(objects)], env=env, cwd=checkout, capture_output=True, text=True, check=True)
    tmp, bwrap, *flags = json.loads(out.stdout)
    Path(tmp).mkdir(parents=True, exist_ok=True)
    return [shutil.which(bwrap) or bwrap, *flags, "--", "true"]


class Siblings:
    """Overlay workspaces mounted in `folder`; `churning()` replaces the oldest with a new one, on a thread."""

    def __init__(self, folder: Path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.folder, self.lower, self.live, self.made = folder, folder / "lower", list[tuple[Path, Path]](), 0
        self.lower.mkdir(parents=True)

    def add(self) -> None:
        point, layers = self.folder / f"k{self.made:08d}", self.folder / f".k{self.made:08d}"
        point.mkdir()
        (layers / "upper").mkdir(parents=True)
        (layers / "work").mkdir()
        options = f"lowerdir={self.lower},upperdir={layers / 'upper'},workdir={layers / 'work'}".encode()
        if self.libc.mount(b"overlay", os.fsencode(point), b"overlay", 0, options) != 0:
            raise OSError(ctypes.get_errno(), "overlay mount", str(point))
        self.live.append((point, layers))
        self.made += 1

    def remove_oldest(self) -> None:
        point, layers = self.live.pop(0)
        self.libc.umount2(os.fsencode(point), MNT_DETACH)
        point.rmdir()
        shutil.rmtree(layers)

    @contextlib.contextmanager
    def churning(self) -> Iterator[None]:
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                self.add()
                self.remove_oldest()

        thread = threading.Thread(target=churn, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def clear(self) -> None:
        while self.live:
            self.remove_oldest()


def start(argv: list[str]) -> tuple[float, float, bool]:
    """One sandbox run to its end: wall seconds, CPU seconds of its processes, whether it was made."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--mounts", default="0,200", help="sibling overlays mounted beside it, one figure each")
    parser.add_argument("--churn", action="store_true", help="the siblings come and go while it is timed; refused starts are counted")
    parser.add_argument("--compare", metavar="CHECKOUT", help="another checkout of Orchard, taken in turns (before and after)")
    parser.add_argument("--dir", help="where the scratch home goes (default: the system's temp dir)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="orchard-sandbox-start-", dir=args.dir))
    home, objects = scratch / "home", scratch / "repo/.git/objects"
    for folder in (home / "workspaces/run_bench/k00000001", home / "agent-homes/run_bench/k00000001", objects):
        folder.mkdir(parents=True)
    checkouts = {"this": ROOT, **({"compare": Path(args.compare).resolve()} if args.compare else {})}
    argvs = {name: argv_of(path, home, objects) for name, path in checkouts.items()}
    siblings = Siblings(home / "workspaces/run_siblings")
    print(f"load {os.getloadavg()[0]:.1f}; {args.reps} starts each, in turns; medians")
    try:
        for mounts in (int(n) for n in args.mounts.split(",")):
            while len(siblings.live) < mounts:
                siblings.add()
            while len(siblings.live) > mounts:
                siblings.remove_oldest()
            figures: dict[str, list[tuple[float, float, bool]]] = {name: [] for name in argvs}
            with siblings.churning() if args.churn and mounts else contextlib.nullcontext():
                for _ in range(args.reps):
                    for name, argv in argvs.items():
                        figures[name].append(start(argv))
            for name, runs in figures.items():
                made = [r for r in runs if r[2]]
                wall = statistics.median(r[0] for r in made) * 1000 if made else float("nan")
                cpu = statistics.median(r[1] for r in made) * 1000 if made else float("nan")
                print(f"{name:8} {mounts:5d} sibling mounts{' churning' if args.churn and mounts else ''}: {wall:6.1f} ms wall, {cpu:5.1f} ms CPU, "
                      f"{len(runs) - len(made)} of {len(runs)} refused")
    finally:
        siblings.clear()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
