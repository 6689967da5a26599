"""A cold start: the launcher of `orchard run` starts the worker first thing, as a pending worker
that imports while the command checks its input, and the command hands it its start
(client/embedded/pending_worker.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import DEMO_AGENT, gone_within, orchard, pending_workers_of, pid_in, pids_where

pytestmark = pytest.mark.slow


def servers_of(home: Path) -> list[int]:
    """The Temporal dev servers running on `home`'s database."""
    db = str(home / "temporal.db").encode()
    return pids_where(lambda proc: db in (proc / "cmdline").read_bytes().split(b"\0"))


def worker_of(home: Path, queue: str = "orchard") -> int:
    return pid_in(home / "workers" / f"{queue}.pid")


def test_a_cold_run_is_served_by_the_worker_its_launcher_started_first(embedded, repo):
    home, env, _, _ = embedded
    ran = orchard("run", "cold", "--agent-command", DEMO_AGENT, "--output", "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["status"] == "success"
    history = orchard("history", result["run_id"], env=env, cwd=repo).stdout
    assert "run_instance" in history and "resolve_base" not in history  # the command resolved the base as it checked its input
    worker = worker_of(home)
    argv = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
    assert b"client.embedded.pending_worker" in argv  # the launcher's, handed its start
    assert Path(f"/proc/{worker}/cwd").resolve() == repo.resolve()  # where the command ran, as a worker it started would be
    assert (home / "logs" / "worker-orchard.log").read_text().count("on task queue orchard") == 1  # its log, and no second worker
    assert os.readlink(f"/proc/{worker}/fd/0") == "/dev/null"

    again = orchard("run", "warm", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
    assert again.returncode == 0, again.stderr
    assert worker_of(home) == worker  # the server ran: no pending worker, the same worker serves


def test_after_a_restart_the_launcher_starts_the_server_which_bad_input_stops_and_a_run_takes(embedded, repo, tmp_path):
    from activities.procfs import recorded_pid

    home, env, _, _ = embedded
    first = orchard("run", "first", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    assert orchard("server", "stop", env=env, cwd=repo).returncode == 0  # a restart: the database is there, nothing runs
    timeline = tmp_path / "timeline"
    env = {**env, "ORCHARD_TIMELINE": str(timeline)}

    bad = orchard("run", "bad", "--runs", "0", env=env, cwd=repo)
    assert bad.returncode == 2 and "--runs 0" in bad.stderr
    assert "command: server spawned (launcher)" in timeline.read_text()  # it was started as the command imported...
    assert recorded_pid(home / "temporal.pid") is None and servers_of(home) == []  # ...and stopped: nothing left running
    assert pending_workers_of(home) == [] or gone_within(lambda: pending_workers_of(home), 5.0)

    timeline.unlink()
    ran = orchard("run", "after a restart", "--agent-command", DEMO_AGENT, "--output", "quiet", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    marks = timeline.read_text()
    assert "command: server spawned (launcher)" in marks and "command: server spawned\n" not in marks  # one server: the launcher's, taken
    assert recorded_pid(home / "temporal.pid") is not None  # it stays up for the next command, as any embedded server does
