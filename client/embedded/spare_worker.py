"""The spare worker: a pending worker (client/embedded/pending_worker.py) kept ready beside the
warm client, so that a run needing a worker that does not run yet (a strategy file's first run,
a worker replaced for other credentials) gets one already imported instead of waiting a second
or more for a new process to import Orchard.

It waits on its own socket under $ORCHARD_HOME/warm/ and serves the code it imported only: it
records that code's digest once it is ready, and a command of other code never claims it. The
first command to claim it hands it its worker's arguments, environment and log, as a cold run
hands its pending worker a start; it acknowledges, and from then on it is that queue's worker
(its pid file the queue's). The command that claimed it starts the next spare as it ends (not
while its run's worker starts: the two would share the cores). A strategy file
is loaded only after the claim, in the claiming command's directory: no stale user code runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import sys
from pathlib import Path

from activities.procfs import recorded_pid
from client import handover
from client.embedded.pending_worker import ACK, start_environment
from client.embedded.processes import spawn, state_dir, stop
from orchard_common.code import ROOT, code_digest

CLAIM_TIMEOUT = 10.0
"""How long a claim waits for the spare's answer (it answers within milliseconds, even mid-import)."""


def _path(suffix: str) -> Path:
    return state_dir("warm") / f"spare{suffix}"


def ensure_spare() -> None:
    """A spare worker of this code, started unless one runs (one of other code is stopped); one
    command at a time, so that no spare goes unrecorded."""
    with _path(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_spare()


def _ensure_spare() -> None:
    pid_file = _path(".pid")
    if recorded_pid(pid_file) is not None:
        with contextlib.suppress(OSError):
            if _path(".code").read_text() == code_digest():
                return
        stop_spare()
    _path(".code").unlink(missing_ok=True)
    # -P and the checkout as cwd, as the pending worker: the user's directory cannot shadow Orchard's modules. No
    # credential-like variable (start_environment): it gets the claiming shell's environment, and this shell's have no business in it.
    spawn([sys.executable, "-P", "-m", "client.embedded.pending_worker", "--listen", str(_path(".sock"))], state_dir("logs") / "spare-worker.log",
          pid_file, cwd=str(ROOT), env=start_environment())


def claim(worker_args: list[str], env: dict[str, str], log: Path, early_imports: list[str]) -> int | None:
    """Make the spare worker `python -m orchard_worker WORKER_ARGS` (as pending_worker.hand_over):
    its pid, or None when there is no ready spare of this code (start a worker as usual)."""
    pid_file = _path(".pid")
    pid = recorded_pid(pid_file)
    try:
        if pid is None or _path(".code").read_text() != code_digest():
            return None
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(CLAIM_TIMEOUT)
        conn.connect(str(_path(".sock")))
    except OSError:
        return None
    with conn, log.open("ab") as out:
        if handover.peer(conn)[0] != pid:
            return None  # not the process the pid file proves is the spare
        try:
            handover.send(conn, {"worker_args": worker_args, "env": env, "cwd": str(Path.cwd()), "early_imports": early_imports}, [out.fileno()])
            if conn.recv(len(ACK)) != ACK:
                return None
        except OSError:
            return None
    pid_file.unlink(missing_ok=True)  # a worker now: `stop_spare` must not stop it; its queue's pid file records it
    _path(".code").unlink(missing_ok=True)
    global _claimed
    _claimed = True
    return pid


_claimed = False
"""This command claimed the spare: it starts the next one as it ends (replace_claimed)."""


def replace_claimed() -> None:
    """(As the command ends.) The next spare, when this command claimed the last one."""
    if _claimed:
        ensure_spare()


def stop_spare() -> bool:
    stopped = stop(_path(".pid"), timeout=5.0)
    for suffix in (".code", ".sock"):
        _path(suffix).unlink(missing_ok=True)
    return stopped
