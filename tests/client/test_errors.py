"""Failures of the host or the server, rather than of the input, are one line: a full disk first."""

from __future__ import annotations

import errno
from collections import namedtuple

from temporalio.service import RPCError, RPCStatusCode

from client import errors

Usage = namedtuple("Usage", "total used free")


def test_a_server_refusal_on_a_full_disk_says_the_disk_is_full(orchard_home, monkeypatch):
    refusal = RPCError("shard status unknown", RPCStatusCode.UNAVAILABLE, b"")
    assert errors.environment_problem(refusal) == "the Temporal server failed the request: shard status unknown"
    monkeypatch.setattr(errors.shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - 4096, 4096))
    assert errors.environment_problem(refusal) == (
        f"the disk holding {orchard_home} is full (4 KiB free); free some space (`orchard clean` removes what ended runs left behind) and try again"
    )


def test_other_host_failures_name_the_error_and_the_file(orchard_home):
    assert errors.environment_problem(PermissionError(errno.EACCES, "Permission denied", "/x/y")) == "Permission denied: /x/y"
