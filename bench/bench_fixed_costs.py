#!/usr/bin/env python3
"""Fixed costs a user feels: a strategy file's first run, and how long `orchard run` takes to exit
once its run has ended.

    python bench/bench_fixed_costs.py [--reps 5] [--exit-reps 10] [--parts custom,exit] [--code DIR ...]

`custom`: `orchard run --strategy mine.py` (a no-op agent, local runner, small repository) timed
from its start to its exit, against the same run of a built-in: as the first command on a new
ORCHARD_HOME (nothing runs: the command starts the server), as the second command (the server and
the built-ins' worker run), and later (the warm client runs), each time with a strategy file no
worker has served yet. `exit`: with the docker runner at N = 1 and everything warm, the seconds
from the run's end on the server's clock (its last event) to the command's exit.

`--code DIR` (repeatable) measures the Orchard checkout at DIR (run with PYTHONPATH=DIR), the
checkouts taking turns rep by rep, so that code before and after a change meet the same load.
Modules are byte-compiled first, as a regular install does.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import re
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

from bench.bench_first_agent import ORCHARD, wait_for_warm_client, write_dev_config  # noqa: E402
from bench.bench_instances import make_small_repo, table  # noqa: E402

STRATEGY = """from workflows import Strategy


class Mine(Strategy):
    NAME = "mine-{n}"

    async def execute(self, prompt, base_branch, ctx):
        h = await ctx.run({{"prompt": prompt, "base_branch": base_branch}}, key=ctx.key("gen"))
        return [await ctx.wait(h)]
"""
SETTLE_SECONDS = 8.0
"""After the second command: the warm client (and, where the code has one, the spare worker) come up."""


class Checkout:
    def __init__(self, code: Path, root: Path):
        self.code, self.root, self.files = code, root, 0

    def env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        return {**env, "ORCHARD_HOME": str(home), "PYTHONPATH": str(self.code)}

    def strategy(self) -> str:
        """A strategy file no worker has served yet."""
        self.files += 1
        path = self.root / f"mine-{self.root.name}-{self.files}.py"
        path.write_text(STRATEGY.format(n=self.files))
        return str(path)

    def run(self, home: Path, repo: Path, *args: str) -> tuple[float, str]:
        """Seconds from the start of `orchard run` to its exit, and the run's id."""
        started = time.time()
        done = subprocess.run([str(ORCHARD), "run", "x", "--agent-command", "true", "--import-policy", "never", "--output", "json", *args],
                              cwd=repo, env=self.env(home), capture_output=True, text=True, timeout=300)
        took = time.time() - started
        if done.returncode != 0:
            raise SystemExit(f"orchard run failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
        return took, json.loads(done.stdout.strip().splitlines()[-1])["run_id"]

    def ended(self, home: Path, repo: Path, run_id: str) -> float:
        """The run's last event, on the server's clock (seconds since the epoch)."""
        done = subprocess.run([str(ORCHARD), "history", run_id], cwd=repo, env=self.env(home), capture_output=True, text=True, timeout=60)
        stamp = json.loads(done.stdout)["events"][-1]["eventTime"]
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        return datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC).timestamp() + float(f"0.{fraction or 0}")

    def stop(self, home: Path) -> None:
        subprocess.run([str(ORCHARD), "server", "stop"], env=self.env(home), capture_output=True, timeout=60)


def custom_rep(checkout: Checkout, repo: Path, times: dict[str, list[float]]) -> None:
    local = ("--runner", "local")
    home = checkout.root / f"home-cold-{len(times['cold: built-in'])}"
    write_dev_config(home)
    try:
        times["cold: strategy file"].append(checkout.run(home, repo, *local, "--strategy", checkout.strategy())[0])
    finally:
        checkout.stop(home)
    home = checkout.root / f"home-up-{len(times['cold: built-in'])}"
    write_dev_config(home)
    try:
        times["cold: built-in"].append(checkout.run(home, repo, *local)[0])
        times["second command: strategy file"].append(checkout.run(home, repo, *local, "--strategy", checkout.strategy())[0])
        wait_for_warm_client(home)
        time.sleep(SETTLE_SECONDS)
        times["warm: built-in"].append(checkout.run(home, repo, *local)[0])
        times["warm: strategy file"].append(checkout.run(home, repo, *local, "--strategy", checkout.strategy())[0])
    finally:
        checkout.stop(home)


def exit_lags(checkouts: list[Checkout], repo: Path, reps: int) -> dict[Path, list[float]]:
    """Each checkout's lags, the checkouts taking turns run by run."""
    docker = ("--runner", "docker", "--network-egress", "offline")
    homes = {c.code: c.root / "home-exit" for c in checkouts}
    lags: dict[Path, list[float]] = {c.code: [] for c in checkouts}
    try:
        for checkout in checkouts:
            write_dev_config(homes[checkout.code])
            for _ in range(2):
                checkout.run(homes[checkout.code], repo, *docker)  # the server, the worker, the warm client
            wait_for_warm_client(homes[checkout.code])
        for _ in range(reps):
            for checkout in checkouts:
                _, run_id = checkout.run(homes[checkout.code], repo, *docker)
                exited = time.time()
                lags[checkout.code].append(exited - checkout.ended(homes[checkout.code], repo, run_id))
    finally:
        for checkout in checkouts:
            checkout.stop(homes[checkout.code])
    return lags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--exit-reps", type=int, default=10)
    parser.add_argument("--parts", default="custom,exit")
    parser.add_argument("--code", action="append", default=[], help="an Orchard checkout to measure (default: this one)")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    codes = [Path(c).resolve() for c in args.code] or [ROOT]
    scratch = Path(tempfile.mkdtemp(prefix="orchard-bench-fixed-", dir=args.dir)).resolve()
    try:
        repo = make_small_repo(scratch / "repo", 5).path
        checkouts = []
        for i, code in enumerate(codes):
            compileall.compile_dir(code, quiet=1, rx=re.compile(r"/(\.git|tests|bench|examples|docker|evals)/"))
            (scratch / f"c{i}").mkdir()
            checkouts.append(Checkout(code, scratch / f"c{i}"))
        if "custom" in parts:
            kinds = ["cold: built-in", "cold: strategy file", "second command: strategy file", "warm: built-in", "warm: strategy file"]
            times = {c.code: {k: [] for k in kinds} for c in checkouts}  # type: dict[Path, dict[str, list[float]]]
            for rep in range(args.reps):
                for checkout in checkouts:
                    custom_rep(checkout, repo, times[checkout.code])
                print(f"  custom: rep {rep + 1} of {args.reps}", flush=True)
            rows = [[str(c.code), kind, f"{statistics.median(times[c.code][kind]):.2f} s",
                     f"{min(times[c.code][kind]):.2f}-{max(times[c.code][kind]):.2f}"] for kind in kinds for c in checkouts]
            table(f"`orchard run` to its exit, a no-op agent, local runner (median of {args.reps})", ["code", "run", "median", "range"], rows)
        if "exit" in parts:
            rows = []
            measured = exit_lags(checkouts, repo, args.exit_reps)
            for checkout in checkouts:
                lags = measured[checkout.code]
                rows.append([str(checkout.code), f"{statistics.median(lags):.3f} s", f"{max(lags):.3f} s",
                             str(sum(lag > 0.3 for lag in lags)), " ".join(f"{lag:.2f}" for lag in lags)])
            table(f"From the run's end (its last event) to `orchard run`'s exit, docker runner, N = 1 ({args.exit_reps} runs)",
                  ["code", "median", "max", "over 0.3 s", "each"], rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
