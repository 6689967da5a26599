#!/usr/bin/env python3
"""A base checkout alone: the time and CPU to make one host's base of a 20,000-file commit (the
checkout, its `.git`, its index made stat-clean and split, the seal), which every workspace of a
cold run waits for, against a bare `git checkout` of the same commit.

    python bench/bench_base.py --code before=../orchard-before --code after=. [--files 20000] [--reps 6] [--dirs /dev/shm,/tmp]   # as root

Each rep makes the base once with each checkout named by `--code` (in turn, the order swapped every
rep), each in a process of its own, then the bare checkout. CPU is the process's and its
children's (git's), which a loaded host inflates less than wall time. Medians.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def make_one(repo: Path, commit: str, base: Path) -> dict[str, float]:
    import activities.git.overlay as overlay

    objects = repo / ".git" / "objects"
    os.sync()
    cpu, started = _cpu(), time.perf_counter()
    await overlay._make_base(repo, commit, base, objects, ("Bench", "b@b"), os.geteuid())
    figures = {"wall": time.perf_counter() - started, "cpu": _cpu() - cpu}
    overlay._delete_base(base)
    return figures


def bare_checkout(repo: Path, commit: str, scratch: Path) -> dict[str, float]:
    tree = scratch / "bare"
    tree.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    (tree / ".git" / "objects" / "info" / "alternates").write_text(f"{repo / '.git' / 'objects'}\n")
    os.sync()
    cpu, started = _cpu(), time.perf_counter()
    subprocess.run(["git", "-c", "checkout.workers=4", "checkout", "-q", "--detach", commit], cwd=tree, check=True)
    figures = {"wall": time.perf_counter() - started, "cpu": _cpu() - cpu}
    shutil.rmtree(tree)
    return figures


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--make":
        sys.path.insert(0, os.getcwd())  # the checkout under test
        print(json.dumps(asyncio.run(make_one(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--dirs", default="/dev/shm,/tmp", type=lambda s: s.split(","))
    parser.add_argument("--code", action="append", required=True, metavar="LABEL=PATH")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("a base is sealed by a bind mount: run this as root")
    sys.path.insert(0, str(ROOT))
    from bench.bench_instances import make_big_repo, table

    codes = [(label, Path(path).resolve()) for label, path in (c.split("=", 1) for c in args.code)]
    rows = []
    for where in args.dirs:
        scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-base-", dir=where)).resolve()
        figures: dict[str, list[float]] = {}
        try:
            repo = make_big_repo(scratch / "repo", args.files)
            loads = []
            for rep in range(args.reps):
                loads.append(os.getloadavg()[0])
                for label, code in codes if rep % 2 == 0 else codes[::-1]:
                    proc = subprocess.run([sys.executable, __file__, "--make", str(repo.path), repo.head, str(scratch / "base")], cwd=code,
                                          env={**os.environ, "PYTHONPATH": str(code), "ORCHARD_HOME": str(scratch / "home")},
                                          capture_output=True, text=True)
                    if proc.returncode != 0:
                        raise RuntimeError(f"{label}: {proc.stderr.strip()[-2000:]}")
                    for key, value in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                        figures.setdefault(f"{label} {key}", []).append(value)
                for key, value in bare_checkout(repo.path, repo.head, scratch).items():
                    figures.setdefault(f"checkout {key}", []).append(value)
                print(f"  {where} rep {rep + 1} (load {loads[-1]:.1f}): " + ", ".join(
                    f"{label} {figures[label + ' wall'][-1]:.2f} s ({figures[label + ' cpu'][-1]:.2f} CPU)" for label in [*(c for c, _ in codes), "checkout"]),
                    flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        rows.extend([where, label if label != "checkout" else "bare git checkout", f"{statistics.median(figures[label + ' wall']):.3f} s",
                     f"{statistics.median(figures[label + ' cpu']):.3f} s", f"{min(loads):.1f}-{max(loads):.1f}"]
                    for label in [*(label for label, _ in codes), "checkout"])
    table(f"a base of {args.files:,} files made (medians of {args.reps})", ["disk", "code", "wall", "CPU (with git's)", "load"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
