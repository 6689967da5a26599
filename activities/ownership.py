"""Proof that a process is the one Orchard started, not merely one with a recorded pid.

After a reboot (or long enough) a pid belongs to another process. So Orchard records beside the
pid what makes the process its own: the boot it was started in, its start time (clock ticks since
boot, from /proc) and its command line, and trusts the record only while all of them match.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import BaseModel


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


class OwnedProcess(BaseModel):
    """A pid and the proof that the process is the one that was recorded."""

    pid: int
    boot_id: str
    start_ticks: int
    argv: list[str]

    @classmethod
    def of(cls, pid: int) -> OwnedProcess | None:
        seen = observed(pid)
        return None if seen is None else cls(pid=pid, boot_id=boot_id(), start_ticks=seen[0], argv=seen[1])

    def running(self) -> bool:
        """Whether the recorded process is still alive (the same one: same boot, start, command)."""
        return self.boot_id == boot_id() and observed(self.pid) == (self.start_ticks, self.argv)


@functools.cache
def this_process() -> OwnedProcess:
    """This process (the worker), as records of what it started name it."""
    me = OwnedProcess.of(os.getpid())
    assert me is not None
    return me
