"""The embedded server's and workers' background processes: started in their own session, found
again through their pid files under $ORCHARD_HOME, stopped with SIGTERM then SIGKILL.

A pid alone proves nothing: after a reboot (or long enough) the number belongs to another
process. So the pid file records what makes the process ours, beside the pid: the boot it was
started in, its start time (clock ticks since boot, from /proc) and its command line. Orchard
signals a process only when all of them still match; a file that does not prove it is ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from activities.paths import orchard_home


class OwnedProcess(BaseModel):
    """What a pid file holds: the pid and the proof that the process is the one Orchard started."""

    pid: int
    boot_id: str
    start_ticks: int
    argv: list[str]


def state_dir(*parts: str) -> Path:
    path = orchard_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _observed(pid: int) -> tuple[int, list[str]] | None:
    """(start ticks, argv) of a live, non-zombie process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    if fields[0] == "Z":
        return None
    return int(fields[19]), [a.decode(errors="replace") for a in argv if a]


def alive(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that process is running and provably the one Orchard started."""
    try:
        owned = OwnedProcess.model_validate_json(pid_file.read_text())
    except (OSError, ValidationError):
        return None
    observed = _observed(owned.pid)
    if observed is None or owned.boot_id != _boot_id() or observed != (owned.start_ticks, owned.argv):
        return None
    return owned.pid


def spawn(cmd: list[str], log: Path, pid_file: Path, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd, env=env,
        )
    for _ in range(100):  # the kernel shows the new command line once the child has exec'd
        observed = _observed(proc.pid)
        if observed is None or observed[1] == cmd:
            break
        time.sleep(0.01)
    if observed is not None:
        pid_file.write_text(OwnedProcess(pid=proc.pid, boot_id=_boot_id(), start_ticks=observed[0], argv=observed[1]).model_dump_json())
    return proc


def log_tail(log: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


def stop(pid_file: Path, timeout: float) -> bool:
    """Stop the process the pid file proves is ours (SIGTERM, then SIGKILL to its session's group);
    False, and nothing signalled, when there is none."""
    pid = alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid_file) is not None:
        time.sleep(0.1)
    if alive(pid_file) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # it leads its own session (start_new_session), so the group is its own
    pid_file.unlink(missing_ok=True)
    return True
