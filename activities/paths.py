"""Where Orchard keeps state on a host: $ORCHARD_HOME (default ~/.orchard). The standard library
only at import: the `orchard` command's launcher finds the warm client through it."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def orchard_home() -> Path:
    return _resolved_home(os.environ.get("ORCHARD_HOME") or "", os.path.expanduser("~"))


@functools.lru_cache(maxsize=16)
def _resolved_home(given: str, user_home: str) -> Path:
    """Resolved once per setting: an instance asks for its paths a dozen times (each a realpath)."""
    return Path(given or Path(user_home) / ".orchard").expanduser().resolve()


def server_pid_file() -> Path:
    """The embedded Temporal dev server's pid file (an OwnedProcess record)."""
    return orchard_home() / "temporal.pid"


def run_dir(run_id: str) -> Path:
    """Per-run results: transcripts, final messages, verification logs."""
    return orchard_home() / "runs" / run_id


def instance_dir(run_id: str, key: str) -> Path:
    from workflows.sdk.models import key_hash8

    return run_dir(run_id) / f"k{key_hash8(key)}"


def workspaces_dir(run_id: str) -> Path:
    return orchard_home() / "workspaces" / run_id


def agent_home_dir(run_id: str, key: str) -> Path:
    """An agent's private state (e.g. CODEX_HOME): per instance, beside but outside the results."""
    from workflows.sdk.models import key_hash8

    return orchard_home() / "agent-homes" / run_id / f"k{key_hash8(key)}"


def running_dir() -> Path:
    """Records of the agent and verification processes running on this host, one file each, so a
    retry or a new worker can stop what a worker that died left running."""
    return orchard_home() / "running"


def running_record(run_id: str, name: str) -> Path:
    return running_dir() / f"{run_id}.{name}.json"
