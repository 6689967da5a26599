#!/usr/bin/env python3
"""A Docker cold start, step by step: from `orchard run --runner docker` with nothing running to
the agent's first instruction in its container.

    python bench/bench_docker_cold.py [--reps 5] [--kinds new,restart] [--code DIR ...] [--steps]

Each rep runs `orchard run` (a no-op agent that prints the time, `--network-egress offline`, a
small repository) cold: in a new ORCHARD_HOME (`new`: the server makes its database) and after
`orchard server stop` (`restart`). `--code DIR` (repeatable) measures the Orchard checkout at DIR,
the checkouts taking turns rep by rep. The steps come from ORCHARD_TIMELINE marks (the launcher,
the command, the pending worker, the worker, the activity: activities/timeline.py; code without
them shows none) and the run's history (its workflow's first task, the activity's schedule), each
as seconds from the command's start; `--steps` prints them for every rep. The load average
(1 minute) is read as each rep starts.
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

from bench.bench_first_agent import ORCHARD, write_dev_config  # noqa: E402
from bench.bench_instances import make_small_repo, table  # noqa: E402

TARGET = 1.5
HISTORY_STEPS = {"WorkflowExecutionStarted": "server: run started", "WorkflowTaskStarted": "server: first workflow task taken",
                 "WorkflowTaskCompleted": "server: first workflow task done", "ActivityTaskScheduled": "server: activity scheduled",
                 "WorkflowTaskTimedOut": "server: a workflow task timed out (10 s)", "WorkflowTaskFailed": "server: a workflow task failed"}


def _stamp(text: str) -> float:
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC).timestamp() + float(f"0.{fraction or 0}")


class Checkout:
    def __init__(self, code: Path, root: Path):
        self.code, self.root = code, root

    def env(self, home: Path, timeline: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        return {**env, "ORCHARD_HOME": str(home), "PYTHONPATH": str(self.code), **({"ORCHARD_TIMELINE": str(timeline)} if timeline else {})}

    def cold(self, home: Path, repo: Path, timeline: Path) -> tuple[float, dict[str, float]]:
        """Seconds to the agent's first instruction, and each step's seconds from the start."""
        timeline.unlink(missing_ok=True)
        started = time.time()
        done = subprocess.run([str(ORCHARD), "run", "time it", "--agent-command", "date +%s.%N", "--runner", "docker", "--network-egress", "offline",
                               "--import-policy", "never", "--output", "json"],
                              cwd=repo, env=self.env(home, timeline), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"orchard run failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        first = float(result["instances"][0]["final_message"].strip())
        steps: dict[str, float] = {}
        if timeline.exists():
            for line in timeline.read_text().splitlines():
                when, _, step = line.split(" ", 2)
                steps.setdefault(step, float(when) - started)
        history = subprocess.run([str(ORCHARD), "history", result["run_id"]], cwd=repo, env=self.env(home), capture_output=True, text=True, timeout=60)
        for event in json.loads(history.stdout)["events"]:
            name = HISTORY_STEPS.get(event["eventType"].removeprefix("EVENT_TYPE_").title().replace("_", "")) or HISTORY_STEPS.get(event["eventType"])
            if name:
                steps.setdefault(name, _stamp(event["eventTime"]) - started)
            taker = event.get("workflowTaskStartedEventAttributes", {}).get("identity")
            if taker:
                steps.setdefault(f"server: a workflow task taken by {taker}", _stamp(event["eventTime"]) - started)
        steps["agent: first instruction"] = first - started
        return first - started, steps

    def stop(self, home: Path) -> None:
        subprocess.run([str(ORCHARD), "server", "stop"], env=self.env(home), capture_output=True, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--kinds", default="new,restart")
    parser.add_argument("--code", action="append", default=[], help="an Orchard checkout to measure (default: this one)")
    parser.add_argument("--steps", action="store_true", help="print every rep's steps")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    codes = [Path(c).resolve() for c in args.code] or [ROOT]
    root = Path(tempfile.mkdtemp(prefix="orchard-bench-cold-", dir=args.dir)).resolve()
    totals: dict[tuple[Path, str], list[float]] = {(c, k): [] for c in codes for k in kinds}
    loads: dict[tuple[Path, str], list[float]] = {(c, k): [] for c in codes for k in kinds}
    every: dict[tuple[Path, str], list[dict[str, float]]] = {(c, k): [] for c in codes for k in kinds}
    try:
        repo = make_small_repo(root / "repo", 5).path
        checkouts = []
        for i, code in enumerate(codes):
            compileall.compile_dir(code, quiet=1, rx=re.compile(r"/(\.git|tests|bench|examples|docker|evals)/"))
            checkouts.append(Checkout(code, root / f"c{i}"))
        for rep in range(args.reps):
            for checkout in checkouts:
                home = checkout.root / f"home-{rep}"
                write_dev_config(home)
                try:
                    for kind in kinds:
                        if kind == "restart":
                            if not (home / "temporal.db").exists():
                                checkout.cold(home, repo, root / "timeline")  # a server that ran once, then stopped
                            checkout.stop(home)
                        loads[checkout.code, kind].append(os.getloadavg()[0])
                        took, steps = checkout.cold(home, repo, root / "timeline")
                        totals[checkout.code, kind].append(took)
                        every[checkout.code, kind].append(steps)
                        print(f"  {checkout.code} {kind} rep {rep + 1}: {took:.2f} s (load {loads[checkout.code, kind][-1]:.1f})", flush=True)
                        if args.steps:
                            for step, at in sorted(steps.items(), key=lambda s: s[1]):
                                print(f"      {at:6.3f}  {step}")
                finally:
                    checkout.stop(home)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [[f"{c} ({k})", f"{statistics.median(totals[c, k]):.2f} s", f"{max(totals[c, k]):.2f} s", f"{min(loads[c, k]):.1f}-{max(loads[c, k]):.1f}",
             str(sum(t <= TARGET for t in totals[c, k])), " ".join(f"{t:.2f}" for t in totals[c, k])] for c in codes for k in kinds]
    table(f"Docker cold start: `orchard run` to the agent's first instruction ({args.reps} reps)",
          ["code (cold kind)", "median", "max", "load", f"<= {TARGET} s", "each"], rows)
    for c in codes:
        for k in kinds:
            names = sorted({n for s in every[c, k] for n in s}, key=lambda n: statistics.median([s[n] for s in every[c, k] if n in s]))
            table(f"{c} ({k}): each step's median seconds from the command's start",
                  ["step", "median", "max"], [[n, f"{statistics.median([s[n] for s in every[c, k] if n in s]):.3f}",
                                              f"{max(s[n] for s in every[c, k] if n in s):.3f}"] for n in names])
    return 0


if __name__ == "__main__":
    sys.exit(main())
