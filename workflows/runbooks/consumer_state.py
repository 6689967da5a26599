"""What a queue consumer (workflows/runbooks/consumer.py) asks its activities and carries from one
run to the next: pure models, which the sandbox shares with every run (orchard_common/sandbox.py)
instead of building them again for each consumer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

import workflows.runbooks.model as m
from workflows.sdk.trail import ItemRecord


class QueueReadInput(BaseModel):
    repo: str
    base_branch: str = ""
    """On a remote, the branch whose checkout the source runs in (activities/workspaces/checkout.py)."""
    queue: m.QueueDef
    config: dict[str, Any] = Field(default_factory=dict)
    functions: dict[str, m.ShellTemplate] = Field(default_factory=dict)
    settled: list[str] = Field(default_factory=list)
    """Ids of items handled for good (done, dead, dropped) that the last poll still saw listed: not brought back."""


class QueueRead(BaseModel):
    items: list[Any] = Field(default_factory=list)
    """Items to handle (new, or failed and to try again), in the queue's order, at most ITEMS_PER_POLL."""
    settled: list[str] = Field(default_factory=list)
    """Which of the settled ids the source still lists."""


class HookInput(BaseModel):
    repo: str
    command: str
    base_branch: str = ""


class ConsumerState(BaseModel):
    items: dict[str, ItemRecord] = Field(default_factory=dict)
    polls: int = 0
    listed_settled: list[str] = Field(default_factory=list)
    """Items handled for good that the source still listed at the last poll."""
    fresh_settled: list[str] = Field(default_factory=list)
    """Items handled for good since the last poll."""
    last_error: str = ""
    stop_by: str | None = None
