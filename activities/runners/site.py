"""Where an agent runs and where its output goes: what the docker and sandbox runners both take."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AgentSite:
    workspace: Path
    agent_home: Path
    objects: Path
    """The object store the workspace's .git borrows (read-only to the agent)."""
    forward_env: list[str]
    """The worker's variables the agent's plugin forwards (its credentials)."""
    endpoints: list[str]
    """The model APIs it may reach with proxy egress."""
    on_line: Callable[[str], None]
    transcript: Path
    record_path: Path
    leftovers: Sequence[Path]
