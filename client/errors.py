"""How the `orchard` command ends: its exit codes, and the error that is one line and exit 2."""

from __future__ import annotations

EXIT_SUCCESS, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_CANCELED = 0, 1, 2, 3, 4
"""0 success, 1 failed (or terminated, timed out), 2 bad usage or input, 3 completed with failed
instances, 4 canceled."""
DETACHED_EXIT = 130
"""Ctrl-C while following a run: the run goes on."""


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""
