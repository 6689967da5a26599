"""Loops and runbook pipelines on a remote, across hosts: worker processes with their own
ORCHARD_HOMEs, one Temporal server, `git daemon` on 127.0.0.1 serving the remote (tests/e2e/hosts.py).
The host that holds a loop's workspace is killed with SIGKILL mid-iteration, and so is one of the
hosts running a queue worker's pipelines: the work goes on from the remote on another host."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import git, orchard, orchard_argv, orchard_env
from tests.e2e.hosts import agent_script, clone_with_marks, host_of, start_hosts, stop_hosts, wait_serving

pytestmark = pytest.mark.slow
T = TypeVar("T")

COUNTER = r"""#!/bin/bash
# One step a call: says where it runs, works a little, then commits the next line.
n=$(( $(cat steps.txt 2>/dev/null | wc -l) + 1 ))
echo "$PWD" > "MARKS/$n.$$"
sleep 3
echo "step $n" >> steps.txt
git add steps.txt && git commit -q -m "loop step $n"
echo "did step $n"
"""


def _wait_for(what: str, ready: Callable[[], T], timeout: float, alive: subprocess.Popen[str] | None = None) -> T:
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert alive is None or alive.poll() is None, f"the run ended while waiting for {what}: {alive.communicate()}"
        time.sleep(0.1)
    return found


def _killed(hosts: list[subprocess.Popen[bytes]], homes: list[Path], home: Path) -> None:
    victim = hosts[homes.index(home)]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)


def test_a_loop_on_a_remote_goes_on_on_another_host_when_its_host_dies(git_daemon, named_server, tmp_path):
    url, bare = git_daemon
    clone, marks = clone_with_marks(url, tmp_path)
    agent = agent_script(tmp_path, COUNTER, marks)
    queue, homes, hosts = start_hosts(tmp_path, "abc", named_server)
    client = orchard_env(tmp_path / "client-home")
    try:
        wait_serving(homes, hosts)
        run = subprocess.Popen(
            orchard_argv("run", "count", "--strategy", "loop", "-S", "mode=fixed", "-S", "max_iterations=5", "-S", "verify=test $(wc -l < steps.txt) -ge 4",
                         "--remote", "origin", "--agent-command", str(agent), "--runner", "local", "--address", named_server, "--task-queue", queue,
                         "--output", "json"),
            cwd=clone, env=client, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # Iteration 2 has started (iteration 1 is pushed): its host dies before it commits.
        (second,) = _wait_for("iteration 2", lambda: [m for m in marks.glob("2.*") if m.stat().st_size], 90, run)
        first_host = host_of(second.read_text().strip(), homes)
        assert first_host is not None
        (pushed,) = git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/orchard/").split()
        assert git(bare, "log", "--format=%s", f"main..{pushed}") == "loop step 1"  # iteration 1 is on the remote
        _killed(hosts, homes, first_host)  # its heartbeats stop: 15 s later the loop moves on (no host_timeout to wait out)
        out, err = run.communicate(timeout=150)
        assert run.returncode == 0, err[-3000:] + out[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        run_id = result["run_id"]
        (branch,) = [ref.removeprefix("refs/heads/") for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/orchard/").split()]
        assert run_id in branch
        # Every iteration's commit is on the remote's branch once, in order, on the base; iteration 2 was done again elsewhere.
        assert git(bare, "log", "--format=%s", "--first-parent", f"main..{branch}").splitlines() == [f"loop step {n}" for n in (4, 3, 2, 1)]
        assert git(bare, "show", f"{branch}:steps.txt").splitlines() == [f"step {n}" for n in (1, 2, 3, 4)]
        assert git(bare, "merge-base", "--is-ancestor", "main", branch) == ""
        assert len(list(marks.glob("2.*"))) == 2  # the lost try of iteration 2, and the one that counted
        later = {host_of(m.read_text().strip(), homes) for m in marks.iterdir() if int(m.name.split(".")[0]) >= 3}
        assert len(later) == 1 and first_host not in later and None not in later, later  # the loop went on on one other host
        fsck = subprocess.run(["git", "fsck", "--strict"], cwd=bare, capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stderr
        # The user's clone has the branch; their checkout is untouched.
        assert f"fetched 1 branch of run {run_id} from origin" in err
        assert git(clone, "rev-parse", branch) == git(bare, "rev-parse", branch)
        assert git(clone, "status", "--porcelain") == "" and git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    finally:
        stop_hosts(hosts)
        orchard("clean", "--address", named_server, env=orchard_env(homes[0]), cwd=tmp_path)


RUNBOOK = """
[pipeline.ship]
publish = ["release"]
[[pipeline.ship.phase]]
name = "build"
run = "echo built > out.txt"
[[pipeline.ship.phase]]
name = "release"
run = "git push -q origin HEAD:refs/heads/release"

[worker.fixer]
queue = "bugs"
handler = "pipeline.fix"
concurrency = 2
idle_action = "wait:10m"

[queue.bugs]
source = "cat bugs.json"

[pipeline.fix]
inputs = ["bug"]
[[pipeline.fix.phase]]
name = "fix"
run = "echo $PWD > MARKS/{bug.id}.$$ && sleep 2 && echo fixed {bug.id} > fix-{bug.id}.txt"
"""


def test_a_runbook_on_a_remote_publishes_there_and_its_queue_worker_spreads_over_hosts(git_daemon, named_server, tmp_path):
    url, bare = git_daemon
    clone, marks = clone_with_marks(url, tmp_path)
    (clone / "runbooks").mkdir()
    (clone / "runbooks" / "ops.toml").write_text(RUNBOOK.replace("MARKS", str(marks)))
    (clone / "bugs.json").write_text(json.dumps([{"id": n} for n in range(1, 4)]))
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "runbooks and bugs")
    git(clone, "push", "-q", "origin", "main")  # the queue's source is read from the remote's main, on a host
    queue, homes, hosts = start_hosts(tmp_path, "ab", named_server)
    client = orchard_env(tmp_path / "client-home")
    on = ("--remote", "origin", "--address", named_server, "--task-queue", queue)
    try:
        wait_serving(homes, hosts)
        # A pipeline on the remote: its branch pushed there, what it publishes (through its gateway) pushed there too.
        shipped = orchard("runbook", "run", "ops.ship", *on, "--output", "json", env=client, cwd=clone, timeout=120)
        assert shipped.returncode == 0, shipped.stdout + shipped.stderr
        run_id = json.loads(shipped.stdout.splitlines()[-1])["run_id"]
        branch = f"orchard/runbook/ship/{run_id}"
        assert git(bare, "show", f"{branch}:out.txt") == "built"
        assert git(bare, "rev-parse", "release") == git(bare, "rev-parse", branch)
        assert git(clone, "rev-parse", branch) == git(bare, "rev-parse", branch) and "fetched 1 branch" in shipped.stderr
        assert git(clone, "status", "--porcelain") == ""
        # Its queue worker: items spread over both hosts; one host dies mid-item, its item is done on the other.
        config = tmp_path / "orchard.yaml"
        config.write_text("strategies:\n  runbook-worker:\n    host_timeout: 4\n")  # a lost host's item moves on after 4 s
        started = orchard("runbook", "worker", "start", "ops.fixer", *on, "--config", str(config), env=client, cwd=clone)
        assert started.returncode == 0, started.stderr
        first = _wait_for("a step", lambda: [m for m in marks.iterdir() if m.stat().st_size], 60)[0]
        victim = host_of(first.read_text().strip(), homes)
        assert victim is not None
        _killed(hosts, homes, victim)

        def status() -> str:
            return orchard("runbook", "worker", "status", "ops.fixer", *on[:4], env=client, cwd=clone).stdout

        _wait_for("every item done", lambda: (now := status()) and all(f"  {n}                done" in now for n in range(1, 4)), 120)
        branches = [ref.removeprefix("refs/heads/") for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/orchard/runbook/fix/").split()]
        for n in range(1, 4):
            holding = [b for b in branches if git(bare, "ls-tree", "--name-only", b, f"fix-{n}.txt")]
            assert len(holding) == 1 and git(bare, "show", f"{holding[0]}:fix-{n}.txt") == f"fixed {n}", (n, branches)
        assert len(branches) == 3, branches  # each item once
        survivor = next(home for home in homes if home != victim)
        assert survivor in {host_of(m.read_text().strip(), homes) for m in marks.iterdir()}
        assert subprocess.run(["git", "fsck", "--strict"], cwd=bare, capture_output=True).returncode == 0
        stopped = orchard("runbook", "worker", "stop", "ops.fixer", *on[:4], env=client, cwd=clone)
        assert stopped.returncode == 0, stopped.stderr
    finally:
        stop_hosts(hosts)
        orchard("clean", "--address", named_server, env=orchard_env(homes[0]), cwd=tmp_path)
