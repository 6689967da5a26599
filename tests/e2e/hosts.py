"""Several worker hosts on one machine, for the end-to-end tests of runs on a remote: a bare
repository served read-write by `git daemon` on 127.0.0.1 (a free port), and worker processes
with ORCHARD_HOMEs of their own (no files shared) against one Temporal server.

tests/e2e/conftest.py makes `git_daemon` a fixture of every end-to-end test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, git, make_repo, orchard_env


def serve(served: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`git daemon` serving the bare repositories under `served` on a free port of 127.0.0.1."""
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--informative-errors", f"--base-path={served}",
         "--listen=127.0.0.1", f"--port={port}", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    return daemon, port


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A bare repository with one commit (a README), served read-write over git:// on a free local
    port: its URL, and its path (to read what was pushed)."""
    served = tmp_path / "served"
    served.mkdir()
    source = make_repo(tmp_path / "source", {"README.md": "hello\n"})
    git(served, "clone", "-q", "--bare", str(source), "project.git")
    daemon, port = serve(served)
    url = f"git://127.0.0.1:{port}/project.git"
    deadline = time.monotonic() + 10
    while subprocess.run(["git", "ls-remote", url], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline and daemon.poll() is None, "git daemon did not come up"
        time.sleep(0.1)
    yield url, served / "project.git"
    daemon.terminate()
    daemon.wait(10)


def start_host(home: Path, address: str, queue: str, max_activities: int = 2) -> subprocess.Popen[bytes]:
    """A worker process with `home` as its ORCHARD_HOME (a host of its own), logging to home/worker.log."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py"), "--address", address, "--task-queue", queue, "--max-activities", str(max_activities)],
        env=orchard_env(home), cwd=home, stdout=subprocess.DEVNULL, stderr=(home / "worker.log").open("w"), start_new_session=True,
    )


def wait_serving(homes: list[Path], hosts: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Until every host's worker says it is serving."""
    deadline = time.monotonic() + timeout
    while not all("serving" in (home / "worker.log").read_text() for home in homes):
        assert time.monotonic() < deadline and all(h.poll() is None for h in hosts), [(home / "worker.log").read_text()[-500:] for home in homes]
        time.sleep(0.1)


def stop_hosts(hosts: list[subprocess.Popen[bytes]]) -> None:
    for host in hosts:
        if host.poll() is None:
            host.terminate()
    for host in hosts:
        host.wait(30)


def host_of(path: str, homes: list[Path]) -> Path | None:
    """The host whose home holds `path` (a workspace an agent or a step ran in)."""
    return next((home for home in homes if Path(path).is_relative_to(home)), None)


def clone_with_marks(url: str, tmp_path: Path) -> tuple[Path, Path]:
    """The user's clone of the remote at `url`, and an empty folder the agents mark where they ran."""
    clone, marks = tmp_path / "clone", tmp_path / "marks"
    git(tmp_path, "clone", "-q", url, str(clone))
    marks.mkdir()
    return clone, marks


def agent_script(tmp_path: Path, text: str, marks: Path) -> Path:
    """An executable agent script from `text`, its MARKS the marks folder."""
    agent = tmp_path / "agent.sh"
    agent.write_text(text.replace("MARKS", str(marks)))
    agent.chmod(0o755)
    return agent


def start_hosts(tmp_path: Path, names: str, address: str) -> tuple[str, list[Path], list[subprocess.Popen[bytes]]]:
    """A task queue of the test's own, and a host per letter of `names` (its home, its worker) serving it."""
    queue = f"hosts-{os.getpid()}-{time.monotonic_ns()}"
    homes = [tmp_path / f"host-{name}" for name in names]
    return queue, homes, [start_host(home, address, queue) for home in homes]
