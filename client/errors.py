"""How the `orchard` command ends: its exit codes, and the error that is one line and exit 2."""

from __future__ import annotations

EXIT_SUCCESS, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
DETACHED_EXIT = 130
"""Ctrl-C while following a run: the run goes on."""


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""
