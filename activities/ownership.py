"""Proof that a process is the one Orchard started, not merely one with a recorded pid.

After a reboot (or long enough) a pid belongs to another process. So Orchard records beside the
pid what makes the process its own: the boot it was started in, its start time (clock ticks since
boot, from /proc) and its command line, and trusts the record only while all of them match.
"""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel

from activities.procfs import boot_id, is_running, observed


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
        return is_running(self.pid, self.boot_id, self.start_ticks, self.argv)


@functools.cache
def this_process() -> OwnedProcess:
    """This process (the worker), as records of what it started name it."""
    me = OwnedProcess.of(os.getpid())
    assert me is not None
    return me
