"""`worker.processes` in orchard.yaml: the embedded server's worker starts with that many processes
(as `python worker.py --processes N`), serves the run, and `orchard server stop` stops them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.procfs import observed
from tests.conftest import gone_within, orchard, pid_in, pids_where

pytestmark = pytest.mark.slow


def _others_of(first: int) -> list[int]:
    """The worker's other processes: those whose command line names `first` as theirs (--parent)."""

    def names_first(proc: Path) -> bool:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        return "orchard_worker" in argv and "--parent" in argv and argv[argv.index("--parent") + 1] == str(first)

    return pids_where(names_first)


def test_the_embedded_worker_runs_the_processes_orchard_yaml_asks_for(embedded, repo):
    home, env, _, _ = embedded
    (repo / "orchard.yaml").write_text("worker:\n  processes: 2\n")
    ran = orchard("run", "say hi", "--agent-command", "true", "--runner", "local", "--import-policy", "never", "--output", "quiet", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    first = pid_in(home / "workers" / "orchard.pid")  # the pending worker the launcher started, handed the worker's flags
    assert gone_within(lambda: [] if len(_others_of(first)) == 1 else [first], 30.0), (home / "logs" / "worker-orchard.log").read_text()[-2000:]
    (other,) = _others_of(first)
    argv = Path(f"/proc/{other}/cmdline").read_bytes().decode().split("\0")
    assert argv[argv.index("--max-activities") + 1] == "100"  # its share of the worker's 200
    stopped = orchard("server", "stop", env=env, cwd=repo)
    assert stopped.returncode == 0 and "worker orchard" in stopped.stdout, stopped.stderr
    assert gone_within(lambda: [pid for pid in (first, other) if observed(pid)], 30.0)
