"""The embedded server's and workers' background processes: started in their own session, found
again through their pid files under $ORCHARD_HOME, stopped with SIGTERM then SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from activities.paths import orchard_home


def state_dir(*parts: str) -> Path:
    path = orchard_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return None
    except OSError:
        pass
    return pid


def spawn(cmd: list[str], log: Path, pid_file: Path, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd, env=env,
        )
    pid_file.write_text(str(proc.pid))
    return proc


def log_tail(log: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


def stop(pid_file: Path, timeout: float) -> bool:
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
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True
