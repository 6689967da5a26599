"""Which background worker a run goes to, so that its agents get the credentials of the shell that
starts it (the end-to-end path: tests/e2e/test_credentials.py)."""

from __future__ import annotations

import os
import sys

import pytest

from activities.procfs import recorded_pid
from client.embedded import background_workers
from client.embedded.background_workers import WorkerIdentity, worker_queue
from client.embedded.processes import spawn, state_dir, stop


def _worker(queue: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A process standing in for the queue's background worker, recorded as started with `env`."""
    pid_file = state_dir("workers") / f"{queue}.pid"
    proc = spawn([sys.executable, "-c", "import time; time.sleep(600)"], state_dir("logs") / f"{queue}.log", pid_file)
    pid_file.with_suffix(".identity").write_text(WorkerIdentity.of(env).dumps())
    return proc, pid_file


@pytest.fixture
def shell(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-this-shell")
    started = []
    yield started
    for pid_file in started:
        stop(pid_file, timeout=5)


async def _open_runs(count: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async def counted(client, queue):  # type: ignore[no-untyped-def]
        return count
    monkeypatch.setattr(background_workers, "open_runs", counted)


async def test_a_worker_with_this_shell_s_credentials_serves_its_run(shell, monkeypatch, capsys):
    _, pid_file = _worker("orchard", {"ANTHROPIC_API_KEY": "sk-ant-this-shell"})
    shell.append(pid_file)
    await _open_runs(3, monkeypatch)
    assert await worker_queue(None, "orchard") == "orchard" and capsys.readouterr().err == ""  # type: ignore[arg-type]
    assert await worker_queue(None, "orchard", {"ANTHROPIC_API_KEY": "sk-ant-given-by-flag"}) != "orchard"  # type: ignore[arg-type]


async def test_an_idle_worker_with_other_credentials_is_replaced_saying_why(shell, monkeypatch, capsys):
    proc, pid_file = _worker("orchard", {"ANTHROPIC_API_KEY": "sk-ant-another-shell"})
    await _open_runs(0, monkeypatch)
    assert await worker_queue(None, "orchard") == "orchard"  # type: ignore[arg-type]
    assert recorded_pid(pid_file) is None and proc.wait(5) is not None  # stopped: the run's start brings one with this shell's
    assert capsys.readouterr().err == ("orchard: restarting the background worker (orchard), which has no open run: "
                                       "its credentials differ from this shell's (ANTHROPIC_API_KEY)\n")


async def test_a_busy_worker_with_other_credentials_keeps_its_runs_and_this_run_gets_its_own(shell, monkeypatch, capsys):
    proc, pid_file = _worker("orchard", {"ANTHROPIC_API_KEY": "sk-ant-another-shell", "GH_TOKEN": "ghp-another"})
    shell.append(pid_file)
    await _open_runs(2, monkeypatch)
    own = await worker_queue(None, "orchard")  # type: ignore[arg-type]
    assert own.startswith("orchard~") and len(own) == len("orchard~") + 6 and recorded_pid(pid_file) == proc.pid
    assert capsys.readouterr().err == (f"orchard: the background worker (orchard) serves 2 open runs and its credentials differ from this shell's "
                                       f"(GH_TOKEN): this run gets a worker of its own with this shell's ({own}; it exits 10 minutes after its last run)\n")
    _, sibling = _worker(own, dict(os.environ))  # that worker, started
    shell.append(sibling)
    assert await worker_queue(None, "orchard") == own  # the next run from this shell shares it
