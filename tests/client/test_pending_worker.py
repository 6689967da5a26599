"""The pending worker: which commands the launcher starts one for, and that one let go exits at
once, having created nothing (client/embedded/pending_worker.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from activities.ownership import OwnedProcess
from activities.procfs import observed
from client.embedded import pending_worker
from tests.conftest import ROOT, gone_within


@pytest.fixture
def cold_home(tmp_path, monkeypatch) -> Path:
    """An ORCHARD_HOME that does not exist yet (nothing runs there), and no named server."""
    home = tmp_path / "home"
    monkeypatch.setenv("ORCHARD_HOME", str(home))
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield home
    pending_worker.release()


@pytest.mark.parametrize("argv", [["run", "fix it"], ["runbook", "run", "build.build"], ["run", "x", "--runner", "docker"]])
def test_a_run_on_a_cold_host_gets_a_pending_worker_that_exits_at_once_when_let_go(cold_home, argv):
    assert pending_worker.before_command(argv) is False  # the server does not run
    assert pending_worker._pending is not None
    _, proc, cmd = pending_worker._pending
    # Popen returns once the exec has closed its pipe; /proc shows the new argv a moment later.
    execing = lambda: [] if (observed(proc.pid) or (0, []))[1] == cmd else [proc.pid]  # noqa: E731
    assert gone_within(execing, 2.0) and "client.embedded.pending_worker" in cmd
    time.sleep(0.2)  # let go while it imports
    pending_worker.release()
    assert gone_within(lambda: [proc.pid] if observed(proc.pid) else [], 5.0)  # a zombie counts as gone: it runs nothing
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
    pending_worker.before_command(argv)
    assert pending_worker._pending is None


def test_no_pending_worker_for_a_named_server_or_while_the_embedded_one_runs(cold_home, monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    assert pending_worker.before_command(["run", "x"]) is False
    assert pending_worker._pending is None
    monkeypatch.delenv("TEMPORAL_ADDRESS")
    cold_home.mkdir()
    me = OwnedProcess.of(os.getpid())
    (cold_home / "temporal.pid").write_text(me.model_dump_json())  # a live process the record proves: "the server runs"
    assert pending_worker.before_command(["run", "x"]) is True  # the command after it starts the warm client
    assert pending_worker._pending is None


def test_without_a_pending_worker_nothing_is_handed_over(cold_home, tmp_path):
    assert pending_worker.hand_over(["--task-queue", "q"], {}, tmp_path / "log", []) is None


@pytest.mark.parametrize("argv, started", [
    (["run", "x", "--strategy", "mine.py"], True),
    (["run", "x", "--strategy=strategies/mine.py:Mine"], True),
    (["runbook", "run", "build.build", "--strategy", "mine.py"], True),
    (["run", "x", "--strategy", "best-of-n"], False),
    (["run", "x", "--strategy", "pkg.mod:Mine"], False),
    (["run", "x"], False),
    (["list", "--strategy", "mine.py"], False),
])
def test_with_the_server_up_a_pending_worker_starts_only_for_a_strategy_file(cold_home, argv, started):
    """The built-ins' worker runs already; a strategy file's first run needs one of its own."""
    cold_home.mkdir()
    (cold_home / "temporal.pid").write_text(OwnedProcess.of(os.getpid()).model_dump_json())  # "the server runs"
    assert pending_worker.before_command(argv) is True
    assert (pending_worker._pending is not None) is started


def test_a_pending_worker_starts_without_the_shell_s_credentials_and_with_what_a_worker_needs(cold_home, monkeypatch):
    """As the spare worker: the run's credentials come with its start (hand_over), from the command."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-canary-of-the-launching-shell")
    monkeypatch.setenv("NPM_AUTH", "canary-npm-auth")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")  # not a credential: AUTH is no word of its name
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", str(ROOT)))
    pending_worker.before_command(["run", "fix it"])
    assert pending_worker._pending is not None
    _, proc, cmd = pending_worker._pending
    # /proc shows the new process's own environment once its exec is through (as its argv: the test above).
    assert gone_within(lambda: [] if (observed(proc.pid) or (0, []))[1] == cmd else [proc.pid], 5.0)
    environ = dict(entry.split(b"=", 1) for entry in Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0") if b"=" in entry)
    assert b"canary" not in b"".join(environ.values())
    assert not {b"ANTHROPIC_API_KEY", b"NPM_AUTH"} & environ.keys()
    for name in ("PATH", "HOME", "ORCHARD_HOME", "PYTHONPATH", "GIT_AUTHOR_NAME"):  # where it finds Python, git, Orchard and its state
        assert environ.get(name.encode()) == os.environ[name].encode(), name
    pending_worker.release()
    assert proc.wait(timeout=5) == 0
