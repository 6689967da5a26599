"""How the `orchard` command ends: its exit codes, and the error that is one line and exit 2."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from temporalio.service import RPCError

from activities.paths import orchard_home

EXIT_SUCCESS, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELED, EXIT_STOPPED = 0, 1, 2, 3, 4, 5
"""0 success, 1 failed (or terminated, timed out), 2 bad usage or input, 3 completed with failed
instances, 4 canceled, 5 stopped by a person before it was done (a loop whose verification had not passed)."""
EXIT_SEVERITY = [EXIT_SUCCESS, EXIT_PARTIAL, EXIT_STOPPED, EXIT_CANCELED, EXIT_FAILURE, EXIT_USAGE]
"""Least to most severe: the exit code of several runs (`--runs N`) is the most severe of theirs."""
DETACHED_EXIT = 130
"""Ctrl-C while following a run: the run goes on."""


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


DISK_FULL_BYTES = 16 * 1024 * 1024
"""Less free space than this under $ORCHARD_HOME is a full disk: the embedded server's database
and the runs' results can no longer be written."""


def disk_full_under(path: Path) -> str | None:
    """One line saying the disk holding `path` is full, or None."""
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    if free >= DISK_FULL_BYTES:
        return None
    return (f"the disk holding {path} is full ({free // 1024:,} KiB free); free some space "
            "(`orchard clean` removes what ended runs left behind) and try again")


def environment_problem(error: OSError | RPCError) -> str:
    """One line for a failure of the host or the server rather than of the input: a full disk
    first (the embedded server's refusals then read "shard status unknown")."""
    full = disk_full_under(orchard_home())
    if full or (isinstance(error, OSError) and error.errno == errno.ENOSPC):
        return full or f"the disk is full ({error})"
    if isinstance(error, RPCError):
        return f"the Temporal server failed the request: {error.message}"
    return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
