"""The pending worker: which commands the launcher starts one for, and that one let go exits at
once, having created nothing (client/embedded/pending_worker.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from activities.ownership import OwnedProcess
from activities.procfs import observed
from client.embedded import pending_worker


@pytest.fixture
def cold_home(tmp_path, monkeypatch) -> Path:
    """An ORCHARD_HOME that does not exist yet (nothing runs there), and no named server."""
    home = tmp_path / "home"
    monkeypatch.setenv("ORCHARD_HOME", str(home))
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield home
    pending_worker.release()


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while observed(pid) is not None:  # a zombie counts as gone: it runs nothing
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("argv", [["run", "fix it"], ["runbook", "run", "build.build"], ["run", "x", "--runner", "docker"]])
def test_a_run_on_a_cold_host_gets_a_pending_worker_that_exits_at_once_when_let_go(cold_home, argv):
    pending_worker.start_if_cold(argv)
    assert pending_worker._pending is not None
    _, proc, cmd = pending_worker._pending
    assert observed(proc.pid)[1] == cmd and "client.embedded.pending_worker" in cmd
    time.sleep(0.2)  # let go while it imports
    pending_worker.release()
    assert gone_within(proc.pid, 5.0)
    assert proc.wait(timeout=5) == 0
    assert not cold_home.exists()  # it created nothing


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["runbook", "validate"],
        ["run", "x", "--address", "127.0.0.1:1"],
        ["run", "x", "--address=127.0.0.1:1"],
        ["run", "x", "--with-worker"],
        ["run", "--help"],
    ],
)
def test_no_pending_worker_for_other_commands_or_where_the_run_would_not_use_it(cold_home, argv):
    pending_worker.start_if_cold(argv)
    assert pending_worker._pending is None


def test_no_pending_worker_for_a_named_server_or_while_the_embedded_one_runs(cold_home, monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    pending_worker.start_if_cold(["run", "x"])
    assert pending_worker._pending is None
    monkeypatch.delenv("TEMPORAL_ADDRESS")
    cold_home.mkdir()
    me = OwnedProcess.of(__import__("os").getpid())
    (cold_home / "temporal.pid").write_text(me.model_dump_json())  # a live process the record proves: "the server runs"
    pending_worker.start_if_cold(["run", "x"])
    assert pending_worker._pending is None


def test_without_a_pending_worker_nothing_is_handed_over(cold_home, tmp_path):
    assert pending_worker.hand_over(["--task-queue", "q"], {}, tmp_path / "log", []) is None
