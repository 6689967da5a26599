"""The embedded server's and workers' background processes: started in their own session, found
again through their pid files under $ORCHARD_HOME, stopped with SIGTERM then SIGKILL.

A pid file holds an OwnedProcess (activities/ownership.py), read back by activities/procfs.py's
recorded_pid: Orchard signals the process only while the record proves it is the one it started;
a file that does not prove it is ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from activities.ownership import OwnedProcess
from activities.paths import orchard_home
from activities.procfs import recorded_pid


def state_dir(*parts: str) -> Path:
    path = orchard_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _exiting(pid: int) -> bool:
    """The process still exists and is not a zombie (read from /proc; nothing is signalled)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def spawn(cmd: list[str], log: Path, pid_file: Path, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd, env=env,
        )
    for _ in range(100):  # the kernel shows the new command line once the child has exec'd
        owned = OwnedProcess.of(proc.pid)
        if owned is None or owned.argv == cmd:
            break
        time.sleep(0.01)
    if owned is not None:
        pid_file.write_text(owned.model_dump_json())
    return proc


def log_tail(log: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


def stop(pid_file: Path, timeout: float) -> bool:
    """Stop the process the pid file proves is ours (SIGTERM, then SIGKILL to its session's group);
    False, and nothing signalled, when there is none."""
    pid = recorded_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and recorded_pid(pid_file) is not None:
        time.sleep(0.1)
    # An exiting process loses its command line before it is gone: wait for the exit itself, so a
    # server stopped here has let go of its database and ports when this returns.
    while time.monotonic() < deadline and _exiting(pid):
        time.sleep(0.05)
    if recorded_pid(pid_file) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # it leads its own session (start_new_session), so the group is its own
    pid_file.unlink(missing_ok=True)
    return True
