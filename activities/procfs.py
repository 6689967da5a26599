"""What /proc says of a process: the boot it runs in, its start time and its command line. The
standard library only: the `orchard` launcher reads Orchard's pid files through it before it
imports anything."""

from __future__ import annotations

import functools
import json
from pathlib import Path


@functools.cache
def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def observed(pid: int) -> tuple[int, list[str]] | None:
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


def is_running(pid: int, boot: str, start_ticks: int, argv: list[str]) -> bool:
    """Whether this recorded process still runs: the same boot, start and command line (a pid
    alone may belong to another process by now)."""
    return boot == boot_id() and observed(pid) == (start_ticks, argv)


def recorded_pid(pid_file: Path) -> int | None:
    """The pid an OwnedProcess record (activities/ownership.py) names, if that process still runs."""
    try:
        record = json.loads(pid_file.read_text())
        pid = record["pid"]
        running = is_running(pid, record["boot_id"], record["start_ticks"], record["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if running else None
