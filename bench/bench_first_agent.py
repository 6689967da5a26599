#!/usr/bin/env python3
"""Time to the first agent: from `orchard run` to the moment the agent's process starts.

    python bench/bench_first_agent.py [--reps 5] [--runners default,local,sandbox:offline,docker:offline,docker:online] [--dir DIR]

The agent is a command that prints when it started (`date +%s.%N`), on a small repository, each
run in its own ORCHARD_HOME with the embedded server on free ports. Warm: the server, the worker and
the warm client already run (an earlier run started them). Cold: nothing runs, so the run starts
the dev server and the worker first; measured twice: in a new ORCHARD_HOME (a first run ever: the
server makes its database) and after `orchard server stop` (a restart, as after a reboot).
Orchard's modules are byte-compiled first, as a regular install does (this machine sets
PYTHONDONTWRITEBYTECODE, so an editable checkout would otherwise compile them in every process).
Targets: <= 0.3 s warm and <= 1.5 s cold, with any runner. `default` names no runner: the sandbox
where bubblewrap works, as on a user's host. A sandbox or docker runner is measured with each
network egress named (`sandbox:offline`: a network namespace with loopback only; `docker:offline`:
no network; `docker:online`: the engine's default network, whose set-up at each container's start
is the engine's).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_instances import make_small_repo, table  # noqa: E402

WARM_TARGET, COLD_TARGET = 0.3, 1.5
ORCHARD = Path(sys.executable).with_name("orchard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_dev_config(home: Path) -> None:
    """Orchard's own embedded-server settings, on free ports (never a user's server)."""
    home.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "temporal-dev.yml").read_text()
    (home / "temporal-dev.yml").write_text(text.replace("127.0.0.1:7233", f"127.0.0.1:{free_port()}").replace("ui_port: 8233", f"ui_port: {free_port()}"))


def first_agent(home: Path, repo: Path, runner: str) -> float:
    """Seconds from starting `orchard run` to the agent's first instruction (it prints the time:
    in a container, its final message is the only thing that comes back). `runner` is `default`
    (no --runner), `local`, or `sandbox:EGRESS` or `docker:EGRESS`."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}, "ORCHARD_HOME": str(home)}
    kind, _, egress = runner.partition(":")
    started = time.time()
    done = subprocess.run([str(ORCHARD), "run", "time it", "--agent-command", "date +%s.%N", *(["--runner", kind] if kind != "default" else []),
                           *(["--network-egress", egress] if egress else []),
                           "--import-policy", "never", "--output", "json"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"orchard run failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    (instance,) = json.loads(done.stdout.strip().splitlines()[-1])["instances"]
    return float(instance["final_message"].strip()) - started


def wait_for_warm_client(home: Path) -> None:
    """Until the warm client the cold run started is up (a person's next command comes seconds later)."""
    deadline = time.monotonic() + 60
    while not (home / "warm" / "client.sock").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no warm client came up under {home}")
        time.sleep(0.05)


def stop(home: Path) -> None:
    subprocess.run([str(ORCHARD), "server", "stop"], env={**os.environ, "ORCHARD_HOME": str(home)}, capture_output=True, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--runners", default="default,local,sandbox:offline,docker:offline,docker:online")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orchard-bench-first-", dir=args.dir)).resolve()
    rows = []
    try:
        repo = make_small_repo(root / "repo", 5).path
        compileall.compile_dir(ROOT, quiet=1, rx=re.compile(r"/(\.git|tests|bench|examples|docker|evals)/"))
        for runner in [r.strip() for r in args.runners.split(",") if r.strip()]:
            times: dict[str, list[float]] = {"warm": [], "new home": [], "restart": []}
            for rep in range(args.reps):
                home = root / f"home-{runner.replace(':', '-')}-{rep}"
                write_dev_config(home)
                try:
                    times["new home"].append(first_agent(home, repo, runner))
                    first_agent(home, repo, runner)  # the second command starts the warm client
                    wait_for_warm_client(home)
                    times["warm"].append(first_agent(home, repo, runner))
                    stop(home)
                    times["restart"].append(first_agent(home, repo, runner))
                finally:
                    stop(home)
            row = [runner]
            for kind, target in (("warm", WARM_TARGET), ("new home", COLD_TARGET), ("restart", COLD_TARGET)):
                row += [f"{statistics.median(times[kind]):.2f} s", f"{min(times[kind]):.2f}-{max(times[kind]):.2f}",
                        "yes" if statistics.median(times[kind]) <= target else "no"]
            rows.append(row)
            print(f"  {runner} measured", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table(f"Time from `orchard run` to the agent's first instruction, small repository (median of {args.reps})",
          ["runner", "warm", "range", f"<= {WARM_TARGET} s", "cold, new home", "range", f"<= {COLD_TARGET} s", "cold, restart", "range",
           f"<= {COLD_TARGET} s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
