"""Workers on several hosts: three worker processes with their own ORCHARD_HOMEs (no shared files),
one Temporal server, and a remote served by `git daemon` on 127.0.0.1. A best-of-n run spreads
over the hosts; one host is killed with SIGKILL mid-run, and the run still ends with every
candidate's branch on the remote and in the user's clone."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import git, orchard, orchard_argv, orchard_env
from tests.e2e.hosts import agent_script, clone_with_marks, start_hosts, stop_hosts, wait_serving

pytestmark = pytest.mark.slow

AGENT = r"""#!/bin/bash
# A scorer gets a score; a candidate says where it runs, works a little and commits.
if [[ "$ORCHARD_PROMPT" == *"Respond with exactly one JSON object"* ]]; then echo '{"score": 7, "rationale": "fine"}'; exit 0; fi
echo "$PWD" > "MARKS/$(basename "$PWD").$$"
sleep 3
echo "$PWD" > where.txt
git add where.txt && git commit -q -m "candidate on $(basename "$(dirname "$(dirname "$(dirname "$PWD")")")")"
echo done
"""


def test_best_of_n_spreads_over_three_hosts_and_survives_losing_one(git_daemon, named_server, tmp_path):
    url, bare = git_daemon
    clone, marks = clone_with_marks(url, tmp_path)
    agent = agent_script(tmp_path, AGENT, marks)
    queue, homes, hosts = start_hosts(tmp_path, "abc", named_server)
    try:
        wait_serving(homes, hosts)
        run = subprocess.Popen(
            orchard_argv("run", "spread out", "--strategy", "best-of-n", "-S", "n=6", "--remote", "origin", "--agent-command", str(agent),
                         "--runner", "local", "--address", named_server, "--task-queue", queue, "--output", "json"),
            cwd=clone, env=orchard_env(tmp_path / "client-home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 90
        while not any("host-a" in m.read_text() for m in marks.iterdir() if m.stat().st_size):
            assert time.monotonic() < deadline and run.poll() is None, f"no candidate started on host a: {run.communicate() if run.poll() is not None else ''}"
            time.sleep(0.1)
        hosts[0].send_signal(signal.SIGKILL)  # host a dies with its agents' work unpushed
        hosts[0].wait(10)
        out, err = run.communicate(timeout=150)
        assert run.returncode == 0, err[-3000:]
        started = {Path(m.read_text().strip()).parts[-4] for m in marks.iterdir()}
        assert started == {"host-a", "host-b", "host-c"}  # the run spread over every host
        listed = git(bare, "for-each-ref", "--format=%(objectname)\t%(refname)", "refs/heads/orchard/")
        on_remote = [line.split("\t")[1].removeprefix("refs/heads/") for line in listed.splitlines()]
        assert len(on_remote) == 6, on_remote
        for branch in on_remote:  # each candidate finished on a live host: b or c
            where = git(bare, "show", f"{branch}:where.txt").strip()
            assert Path(where).parts[-4] in ("host-b", "host-c"), where
            assert git(clone, "rev-parse", branch) == git(bare, "rev-parse", branch)  # fetched into the user's clone
        assert "fetched 6 branches of run" in err
        assert git(clone, "status", "--porcelain") == ""  # the user's checkout is untouched
        run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
        listed = orchard("list", "--repo", url, "--output", "json", "--address", named_server, env=orchard_env(tmp_path / "client-home"), cwd=tmp_path)
        assert run_id in [json.loads(line)["run_id"] for line in listed.stdout.splitlines()], listed.stdout + listed.stderr
        # Detached, then watched from the clone: the watch brings the run's branch here.
        started = orchard("run", "once more", "--detach", "--remote", "origin", "--agent-command", str(agent), "--runner", "local",
                          "--address", named_server, "--task-queue", queue, env=orchard_env(tmp_path / "client-home"), cwd=clone)
        assert started.returncode == 0, started.stderr
        detached = started.stdout.strip().splitlines()[-1]
        watched = orchard("watch", detached, "--output", "quiet", "--address", named_server, env=orchard_env(tmp_path / "client-home"), cwd=clone)
        assert watched.returncode == 0 and f"fetched 1 branch of run {detached} from origin" in watched.stderr, watched.stderr
        (branch,) = [b for b in git(clone, "branch", "--format=%(refname:short)").split() if detached in b]
        assert git(clone, "rev-parse", branch) == git(bare, "rev-parse", branch)
        base = git(bare, "rev-parse", "main")
        for home in homes:  # each host fetched the remote into its own mirror: once, not per instance, for the base
            (mirror,) = (home / "mirrors").glob("*.git")
            assert git(mirror, "rev-parse", "main") == base
            fetches = [line for line in (home / "worker.log").read_text().splitlines() if "into this host's mirror" in line]
            assert 1 <= len(fetches) <= 5 and sum(base in line for line in fetches) <= 1 and sum("a new mirror" in line for line in fetches) <= 1, fetches
    finally:
        stop_hosts(hosts)
        cleaned = orchard("clean", "--address", named_server, env=orchard_env(homes[0]), cwd=tmp_path)  # what the dead host left
        assert cleaned.returncode == 0, cleaned.stderr
