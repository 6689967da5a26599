"""What a cron's run asks of the host, at the repository's root (on a remote, in a checkout of its
branch as the remote has it now, as a queue's source: activities/workspaces/checkout.py): a
monitor checked (its source's items, its condition for each) and a command run (an action, a
monitor's `run`, an event). The activities are activities/runbooks/monitors.py; the workflow is
workflows/runbooks/cron.py.

An item is what its monitor's source printed: a JSON object, whose fields its templates read
(`{session}`), or a line of text, which they read as `{item}` (and `{line}`, `{id}`, `{name}`,
`{path}`, the names otters' janitor gives a line: `tmux kill-session -t {name}`, `rm {path}`).
It is known by its `id` (else `name`, `path`, `session`), or by a digest of what it holds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

import workflows.runbooks.model as m

ITEMS_PER_TICK = 50
"""Items one monitor acts on in one run of its cron (the rest wait for the next run): the run's history stays small."""
KEYS_KEPT = 1000
"""Matching items whose ladder records a run carries (their keys), at most."""
KEY_FIELDS = ("id", "name", "path", "session")


def item_key(item: Any) -> str:
    """How a cron knows an item from one run to the next."""
    if isinstance(item, dict):
        for name in KEY_FIELDS:
            if item.get(name) not in (None, ""):
                return str(item[name])
    if isinstance(item, str) and 0 < len(item) <= 200:
        return item
    return "sha-" + hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:12]


def item_values(item: Any) -> dict[str, Any]:
    """What a monitor's templates read of an item: its fields (or a line as item, line, id, name and
    path), and `id`, its key, when it has no id of its own."""
    if isinstance(item, dict):
        fields = {k: v for k, v in item.items() if isinstance(k, str) and k.isidentifier()}
        return {**fields, "item": item, "id": fields.get("id", item_key(item))}
    text = item if isinstance(item, str) else json.dumps(item)
    return {"item": item, "line": text, "id": text, "name": text, "path": text}


class MonitorCheckInput(BaseModel):
    repo: str
    base_branch: str = ""
    """The branch a remote's checkout is of (a local repository's root is the repository itself)."""
    monitor: m.MonitorDef
    config: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, Any] = Field(default_factory=dict)
    """What every template of the monitor reads besides an item's fields: cron, monitor."""
    timeout: float = 120.0


class MatchedItem(BaseModel):
    key: str
    item: Any


class SkippedItem(BaseModel):
    key: str
    item: Any
    reason: str


class MonitorCheck(BaseModel):
    listed: int = 0
    """Items the source printed."""
    matched: list[MatchedItem] = Field(default_factory=list)
    """Those whose condition held, at most ITEMS_PER_TICK."""
    matching: list[str] = Field(default_factory=list)
    """The key of every item whose condition held (at most KEYS_KEPT): their ladders go on."""
    skipped: list[SkippedItem] = Field(default_factory=list)
    """Items whose condition could not be checked (a value its template cannot take, a condition that hangs)."""
    error: str = ""
    """Why the source gave no items (it failed, it printed what its format cannot read)."""
    root: str = ""
    """Where the source ran (a remote's checkout on the host that checked it): an item's absolute
    path under it is checked against [safety] as a path of the repository."""


class CommandInput(BaseModel):
    repo: str
    base_branch: str = ""
    """As MonitorCheckInput's."""
    command: str
    label: str
    """What the command is, for the logs: `action nudge for agent-7`."""
    timeout: float = 300.0


class CommandOutcome(BaseModel):
    exit_code: int | None
    """None: it did not finish in time (it was killed)."""
    output_tail: str = ""
    """The end of what it printed (redacted)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0
