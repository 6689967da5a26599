#!/usr/bin/env python3
"""Workspaces whose cost does not grow with the tree: copy-on-write overlays against checkouts.

    python bench/bench_workspaces.py [--files 2000,20000,100000] [--reps 5] [--parallel 16] [--dir DIR]

1. Per workspace, for an agent that changes one file and commits: ready (made) and removed, as an
   overlay of the host's base checkout (the base made once beforehand, its cost shown apart) and as
   a checkout of its own (ORCHARD_WORKSPACES=checkout), at each tree size. Targets: overlay ready
   <= 20 ms and removed <= 20 ms, whatever the size.
2. Disk: `--parallel` workspaces of the 20,000-file tree at once, each with its agent's change,
   against one checkout (du of the bases and every workspace's layers). Target: <= 1.1x.
The whole best-of-n run on the 20,000-file tree, against its floor and against clones, is
bench/bench_big_tree.py's.

Runs as root (overlay mounts); everything lives in one temporary directory under --dir.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_instances import make_big_repo, sh_git, table  # noqa: E402

AGENT = "echo changed >> CHANGED.md && git add -A && git commit -qm 'agent change'"
READY_TARGET_MS = REMOVED_TARGET_MS = 20.0
DISK_TARGET = 1.1


def du(*paths: Path) -> int:
    """Bytes on disk under `paths` (hard links and overlay layers counted once)."""
    out = subprocess.run(["du", "-scx", "--block-size=1", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def agent_change(workspace: Path) -> None:
    subprocess.run(AGENT, shell=True, cwd=workspace, check=True, capture_output=True)


async def per_workspace(repo: Path, head: str, root: Path, reps: int, mode: str) -> tuple[list[float], list[float], float]:
    """(ready ms, removed ms, base seconds) for `reps` workspaces made and removed one by one."""
    import activities.git.overlay as overlay
    from activities.git.workspace import prepare_workspace, remove_workspace

    os.environ["ORCHARD_WORKSPACES"] = mode
    overlay._probe.cache_clear()
    keep = None
    base_seconds = 0.0
    if mode == "overlay":  # the base, made once (and kept by one workspace while the others come and go)
        started = time.perf_counter()
        keep = await prepare_workspace(repo, head, root / "keep" / "k", "orchard/bench/keep")
        base_seconds = time.perf_counter() - started
        # The base's files are still being written back to the disk, which stalls every file made
        # meanwhile (12-28 ms for a workspace's dozen instead of 1-7 ms): that is the base's cost.
        os.sync()
    ready, removed = [], []
    for i in range(reps):
        dest = root / mode / f"k{i}"
        started = time.perf_counter()
        await prepare_workspace(repo, head, dest, f"orchard/bench/{mode}/{i}")
        ready.append((time.perf_counter() - started) * 1000)
        agent_change(dest)
        started = time.perf_counter()
        await remove_workspace(dest)
        removed.append((time.perf_counter() - started) * 1000)
    if keep is not None:
        await remove_workspace(keep)
    return ready, removed, base_seconds


async def disk(repo: Path, head: str, root: Path, parallel: int) -> tuple[int, int]:
    """(bytes of `parallel` overlay workspaces with their bases, bytes of one checkout)."""
    import activities.git.overlay as overlay
    from activities.git.workspace import prepare_workspace, remove_workspace

    os.environ["ORCHARD_WORKSPACES"] = "overlay"
    overlay._probe.cache_clear()
    run = root / "disk"
    made = await asyncio.gather(*(prepare_workspace(repo, head, run / f"k{i}", f"orchard/bench/disk/{i}") for i in range(parallel)))
    for workspace in made:
        agent_change(workspace)
    layers = [overlay.layers_of(w) for w in made]
    used = du(overlay.bases_dir(), *layers)
    await asyncio.gather(*(remove_workspace(w) for w in made))
    one = root / "one-checkout"
    sh_git("clone", "--quiet", "--no-hardlinks", "--shared", str(repo), str(one), cwd=root)
    checkout = du(one) - du(one / ".git" / "objects")  # the tree and its index: what a workspace copies
    shutil.rmtree(one)
    return used, checkout


async def bench(args: argparse.Namespace, root: Path) -> None:
    rows, repos = [], {}
    for files in args.files:
        repo = make_big_repo(root / "repos" / f"r{files}", files)
        repos[files] = repo
        over_ready, over_removed, base = await per_workspace(repo.path, repo.head, root / "ws", args.reps, "overlay")
        co_ready, co_removed, _ = await per_workspace(repo.path, repo.head, root / "ws", args.reps, "checkout")
        med = statistics.median
        rows.append([f"{files:,}", f"{base:.2f} s", f"{med(over_ready):.1f}", f"{med(over_removed):.1f}", f"{med(co_ready):.0f}", f"{med(co_removed):.0f}",
                     "yes" if med(over_ready) <= READY_TARGET_MS and med(over_removed) <= REMOVED_TARGET_MS else "no"])
        print(f"  {files:,} files measured", flush=True)
    table(f"1. A workspace for an agent that changes one file (median of {args.reps}, ms)",
          ["files", "base, once", "overlay ready", "overlay removed", "checkout ready", "checkout removed", f"<= {READY_TARGET_MS:g} ms"], rows)

    big = repos.get(20000) or repos[max(repos)]
    used, checkout = await disk(big.path, big.head, root / "ws", args.parallel)
    table(f"2. Disk: {args.parallel} workspaces at once of the {big.files:,}-file tree",
          ["one checkout", f"{args.parallel} overlays + base", "ratio", f"<= {DISK_TARGET}x"],
          [[f"{checkout / 2**20:.1f} MiB", f"{used / 2**20:.1f} MiB", f"{used / checkout:.2f}x", "yes" if used / checkout <= DISK_TARGET else "no"]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="2000,20000,100000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    args.files = [int(f) for f in args.files.split(",")]
    if os.geteuid() != 0:
        raise SystemExit("overlay workspaces need root: run this as root")
    root = Path(tempfile.mkdtemp(prefix="orchard-bench-ws-", dir=args.dir)).resolve()
    os.environ["ORCHARD_HOME"] = str(root / "home")
    os.environ["ORCHARD_BASE_GRACE"] = "0"  # a base goes with its last workspace: each measure makes its own
    try:
        asyncio.run(bench(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
