"""Raw runbook tables, mirroring the TOML as written (otters' two spellings), checked only for
their keys and value types. Meaning (references, durations, templates) is the loader's and the
validator's. Each entry of a section is read on its own, so one bad entry hides no other problem.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Duration = str | int | float
RunValue = str | dict[str, Any]
"""`run = "make test"` or `run = { agent = "planning" }` (also task, strategy, pipeline, orchard)."""


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    """Strict: TOML values are typed already, so "3" never becomes a number, nor true a second."""


class RawRetry(_Raw):
    max: int = Field(ge=1)
    interval: Duration = 0


class RawCommand(_Raw):
    args: str = ""
    run: RunValue
    aliases: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    description: str = ""


class RawWorker(_Raw):
    queue: str
    handler: str
    concurrency: int = Field(default=1, ge=1)
    poll: Duration | None = None
    idle_action: str | None = None
    wake_on: list[str] = Field(default_factory=list)
    on_unhealthy: str | None = None


class RawDead(_Raw):
    retention: Duration | None = None
    on_add: str | None = None


class RawQueue(_Raw):
    source: str | None = None
    format: str = "json"
    filter: str | None = None
    order: str | None = None
    visibility_timeout: Duration | None = None
    max_retries: int = Field(default=0, ge=0)
    on_exhaust: str = "dead"
    dead: RawDead = Field(default_factory=RawDead)


class RawPhase(_Raw):
    name: str
    run: RunValue | None = None
    task: str | None = None
    agent: str | None = None
    strategy: str | None = None
    pipeline: str | None = None
    pre: list[str] = Field(default_factory=list)
    post: list[str] = Field(default_factory=list)
    lock: str | None = None
    semaphore: str | None = None
    next: str | None = None
    on_fail: str | dict[str, Any] | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None


class RawPipelineEvents(_Raw):
    on_start: str | None = None
    on_phase: str | None = None
    on_complete: str | None = None
    on_fail: str | None = None


class RawPipeline(_Raw):
    inputs: list[str] = Field(default_factory=list)
    defaults: dict[str, str] = Field(default_factory=dict)
    phase: list[dict[str, Any]] = Field(default_factory=list)
    """Read phase by phase as RawPhase."""
    events: RawPipelineEvents = Field(default_factory=RawPipelineEvents)
    publish: list[str] = Field(default_factory=list)
    max_visits: int = Field(default=10, ge=1)
    description: str = ""


class RawTask(_Raw):
    """`[task.X]` (the seed's spelling) or `[agent.X]` (the newer one)."""
    run: str | None = None
    command: str | None = None
    prompt: str | None = None
    prompt_file: str | None = None
    plugin: str | None = None
    model: str | None = None
    max_turns: int | None = Field(default=None, ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    heartbeat: str = "output"
    timeout: Duration | None = None
    idle_timeout: Duration | None = None
    on_stuck: str | list[str] = Field(default_factory=list)
    on_timeout: str = "fail"
    checkpoint: str | None = None
    checkpoint_interval: Duration | None = None


class RawGuard(_Raw):
    condition: str
    timeout: Duration | None = None
    on_timeout: str = "escalate"
    retry: RawRetry | None = None
    wake_on: list[str] = Field(default_factory=list)


class RawAttempt(_Raw):
    name: str
    run: RunValue | None = None
    task: str | None = None
    timeout: Duration | None = None
    rollback: str | None = None


class RawStrategy(_Raw):
    checkpoint: str | None = None
    on_exhaust: str | dict[str, Any] = "escalate"
    attempt: list[dict[str, Any]] = Field(default_factory=list)
    """Read attempt by attempt as RawAttempt."""


class RawLock(_Raw):
    timeout: Duration | None = None
    heartbeat: Duration | None = None
    on_stale: str | list[str] = "release"


class RawSemaphore(_Raw):
    max: int = Field(ge=1)
    slot_timeout: Duration | None = None
    slot_heartbeat: Duration | None = None
    on_orphan: str = "reclaim"
    on_orphan_work: str = "fail"


ENTRY_MODELS: dict[str, type[_Raw]] = {
    "command": RawCommand, "worker": RawWorker, "queue": RawQueue, "pipeline": RawPipeline,
    "task": RawTask, "agent": RawTask, "guard": RawGuard, "strategy": RawStrategy,
    "lock": RawLock, "semaphore": RawSemaphore,
}
"""Sections of named entries (`[pipeline.build]`), with the model of one entry."""
SECTIONS = [*ENTRY_MODELS, "config", "functions", "events"]
