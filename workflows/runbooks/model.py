"""Runbooks as the client's loader hands them on: validated, every reference resolved.

A reference is qualified, `runbook.kind.name` (`common.task.planning`), so a definition can be
looked up in a `RunbookSet` without knowing which file said it. Templates keep their source and
their syntax (`{name}` inline, `{{ name }}` in template files) and are rendered at run time with
workflows/runbooks/templates.py; a field typed `ShellTemplate` renders a shell command, and only
those quote their values for the shell. Durations are seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from workflows.runbooks.arguments import ArgSpec
from workflows.sdk.durations import format_duration

Kind = Literal["command", "worker", "queue", "pipeline", "task", "guard", "strategy", "lock", "semaphore"]
Ref = str
"""`runbook.kind.name`, e.g. `bugfix.pipeline.fix`."""


def ref(runbook: str, kind: Kind, name: str) -> Ref:
    return f"{runbook}.{kind}.{name}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(_Model):
    source: str
    syntax: Literal["inline", "file"] = "inline"
    runbook: str
    """The runbook whose `[config]` the template sees as `config`."""
    origin: str = ""
    """Where it was written, for errors: `bugfix.toml: task.fix: prompt`, or a template file's path."""
    shell: bool = False
    """It renders a shell command: set by the field that holds it (ShellTemplate), never by hand."""


def _in_shell(template: Template) -> Template:
    return template if template.shell else template.model_copy(update={"shell": True})


ShellTemplate = Annotated[Template, AfterValidator(_in_shell)]
"""The one definition of which templates are shell commands: every field of this type, and no
other, quotes the values it interpolates for the shell (workflows/runbooks/shell.py)."""


def templates_in(value: Any) -> Iterator[Template]:
    """Every template a definition (or a runbook) holds."""
    if isinstance(value, Template):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from templates_in(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from templates_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from templates_in(item)


class Retry(_Model):
    max: int = Field(ge=1)
    interval: float = Field(ge=0)


# -- what a phase (or a strategy attempt) does --------------------------------------------------

class RunShell(_Model):
    kind: Literal["shell"] = "shell"
    command: ShellTemplate
    cwd: Template | None = None
    """Relative to the pipeline's workspace; default: the workspace."""
    env: dict[str, Template] = Field(default_factory=dict)


class RunTask(_Model):
    """An agent instance through Orchard's plugins, in the pipeline's workspace."""
    kind: Literal["task"] = "task"
    task: Ref


class RunStrategyChain(_Model):
    kind: Literal["strategy"] = "strategy"
    strategy: Ref


class RunPipeline(_Model):
    kind: Literal["pipeline"] = "pipeline"
    pipeline: Ref
    inputs: dict[str, Template] = Field(default_factory=dict)
    """The child's inputs; an input left out takes the parent's value of the same name."""


class RunOrchard(_Model):
    """An Orchard strategy as a child workflow; its winner is merged into the pipeline's branch."""
    kind: Literal["orchard"] = "orchard"
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    """Validated by the strategy's own config class."""
    task: Ref | None = None
    """Whose prompt and agent settings the strategy's instances get."""
    prompt: Template | None = None


class NoAction(_Model):
    """A phase that only waits on its guards (otters' `blocked`)."""
    kind: Literal["none"] = "none"


PhaseAction = Annotated[RunShell | RunTask | RunStrategyChain | RunPipeline | RunOrchard | NoAction, Field(discriminator="kind")]
AttemptAction = Annotated[RunShell | RunTask, Field(discriminator="kind")]


# -- where a phase goes next ------------------------------------------------------------------

class GotoPhase(_Model):
    kind: Literal["phase"] = "phase"
    phase: str


class Done(_Model):
    kind: Literal["done"] = "done"


class Failed(_Model):
    kind: Literal["failed"] = "failed"


class Escalate(_Model):
    """Ask a person (retry, skip, fail, goto:PHASE) and go on as they answer."""
    kind: Literal["escalate"] = "escalate"


class UseStrategy(_Model):
    kind: Literal["strategy"] = "strategy"
    strategy: Ref


class RetryPhase(_Model):
    kind: Literal["retry"] = "retry"
    retry: Retry


Next = Annotated[GotoPhase | Done | Failed, Field(discriminator="kind")]
FailAction = Annotated[GotoPhase | Failed | Escalate | UseStrategy | RetryPhase, Field(discriminator="kind")]
TimeoutAction = Annotated[GotoPhase | Failed | Escalate, Field(discriminator="kind")]


# -- definitions ------------------------------------------------------------------------------

class PhaseDef(_Model):
    name: str
    action: PhaseAction
    pre: list[Ref] = Field(default_factory=list)
    post: list[Ref] = Field(default_factory=list)
    lock: Ref | None = None
    semaphore: Ref | None = None
    next: Next = Field(default_factory=Done)
    on_fail: FailAction = Field(default_factory=Failed)
    timeout: float | None = None


class PipelineEvents(_Model):
    """Commands run when the pipeline moves; `{name}`-style templates with `phase` and `error`."""
    on_start: ShellTemplate | None = None
    on_phase: ShellTemplate | None = None
    on_complete: ShellTemplate | None = None
    on_fail: ShellTemplate | None = None


MAX_PHASES = 200
"""Phases in one pipeline. Its run keeps every phase in one history (it does not continue as new),
each step an activity and a workflow task (6 events, ~5 ms to replay here), and a worker that takes
the run over replays that history whole in one workflow task: 200 phases, about 1 s of CPU."""


class PipelineDef(_Model):
    ref: Ref
    name: str
    inputs: list[str]
    defaults: dict[str, Template] = Field(default_factory=dict)
    """In the order written: a default may use the inputs and the defaults before it."""
    phases: list[PhaseDef] = Field(max_length=MAX_PHASES)
    events: PipelineEvents = Field(default_factory=PipelineEvents)
    publish: list[str] = Field(default_factory=list)
    """Refs of the user's repository the pipeline may change (e.g. `main`); nothing else."""
    max_visits: int = 10
    """How often one phase may run in one pipeline run (a bound on loops back like verify -> fix)."""

    def required_inputs(self) -> list[str]:
        return [name for name in self.inputs if name not in self.defaults]

    def phase(self, name: str) -> PhaseDef:
        return next(p for p in self.phases if p.name == name)


class TaskDef(_Model):
    """An agent task (`[task.X]` or `[agent.X]`): the prompt and the agent settings it overrides."""
    ref: Ref
    name: str
    prompt: Template
    command: ShellTemplate | None = None
    """The agent's command line (the command plugin, `bash -c`); otters' `run = "claude --print"`."""
    plugin: str | None = None
    model: str | None = None
    max_turns: int | None = None
    env: dict[str, Template] = Field(default_factory=dict)
    cwd: Template | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    heartbeat: Literal["output", "none"] = "output"
    on_stuck: list[Literal["nudge", "restart", "escalate"]] = Field(default_factory=list)
    on_timeout: Literal["fail", "escalate", "requeue"] = "fail"
    checkpoint: ShellTemplate | None = None
    checkpoint_interval: float | None = None


class GuardDef(_Model):
    ref: Ref
    name: str
    condition: ShellTemplate
    """A shell command: exit 0 means the condition holds."""
    timeout: float | None = None
    on_timeout: TimeoutAction = Field(default_factory=Escalate)
    retry: Retry | None = None
    wake_on: list[Template] = Field(default_factory=list)
    """Event patterns (workflows/runbooks/events.py) that make a waiting guard check again."""


class AttemptDef(_Model):
    name: str
    action: AttemptAction
    timeout: float | None = None
    rollback: ShellTemplate | None = None
    """Rendered with `checkpoint`; runs when this attempt fails or times out."""


class ExhaustAction(_Model):
    kind: Literal["escalate", "fail", "retry"] = "escalate"
    after: float | None = None
    """For retry: how long to wait before the chain runs again (a durable timer)."""
    max: int = 1
    """For retry: how many times the chain runs again before it fails."""


class StrategyDef(_Model):
    ref: Ref
    name: str
    checkpoint: ShellTemplate | None = None
    attempts: list[AttemptDef]
    on_exhaust: ExhaustAction = Field(default_factory=ExhaustAction)


class LockDef(_Model):
    ref: Ref
    name: str
    timeout: float | None = None
    heartbeat: float | None = None
    on_stale: list[Literal["release", "rollback", "cleanup", "escalate"]] = Field(default_factory=lambda: ["release"])

    def lease(self) -> tuple[int, float, float | None]:
        """What ctx.hold takes: one holder, its heartbeat (30 s when unset), how long it may hold."""
        return 1, self.heartbeat or 30.0, self.timeout


class SemaphoreDef(_Model):
    ref: Ref
    name: str
    max: int = Field(ge=1)
    slot_timeout: float | None = None
    slot_heartbeat: float | None = None
    on_orphan: Literal["reclaim", "escalate"] = "reclaim"
    on_orphan_work: Literal["requeue", "fail"] = "fail"

    def lease(self) -> tuple[int, float, float | None]:
        """What ctx.hold takes: `max` holders, the slot's heartbeat (30 s when unset), how long a slot may be held."""
        return self.max, self.slot_heartbeat or 30.0, self.slot_timeout


class SortKey(_Model):
    field: str
    descending: bool = False


class DeadLetters(_Model):
    retention: float | None = None
    on_add: ShellTemplate | None = None


class QueueDef(_Model):
    ref: Ref
    name: str
    source: ShellTemplate | None = None
    """A shell command printing the items; without it, items are added by commands."""
    format: Literal["json", "lines", "csv", "kv"] = "json"
    filter: str | None = None
    """An expression over an item (workflows/runbooks/expressions.py)."""
    order: list[SortKey] = Field(default_factory=list)
    visibility_timeout: float | None = None
    max_retries: int = 0
    on_exhaust: Literal["dead", "escalate", "wait", "drop"] = "dead"
    dead: DeadLetters = Field(default_factory=DeadLetters)


class WorkerDef(_Model):
    ref: Ref
    name: str
    queue: Ref
    handler: Ref
    """A pipeline (the item is its one required input) or a task (the item is `item` in its prompt)."""
    concurrency: int = Field(default=1, ge=1)
    idle_wait: float = 30.0
    """`poll` (otters' `idle_action = "wait:30s"`): how long the worker waits before it reads its queue again."""
    wake_on: list[Template] = Field(default_factory=list)
    on_unhealthy: Literal["restart", "escalate"] = "restart"


class CommandDef(_Model):
    ref: Ref
    name: str
    args: ArgSpec
    defaults: dict[str, Any] = Field(default_factory=dict)
    action: RunPipeline | RunShell


class RunbookEvents(_Model):
    """`[events]`: commands for every pipeline of the runbook (a pipeline's own events win)."""
    on_start: ShellTemplate | None = None
    on_phase: ShellTemplate | None = None
    on_complete: ShellTemplate | None = None
    on_fail: ShellTemplate | None = None
    by_pipeline: dict[str, PipelineEvents] = Field(default_factory=dict)
    """otters' `on_<pipeline>_complete` spelling, by pipeline name."""


class Runbook(_Model):
    name: str
    path: str
    commands: dict[str, CommandDef] = Field(default_factory=dict)
    workers: dict[str, WorkerDef] = Field(default_factory=dict)
    queues: dict[str, QueueDef] = Field(default_factory=dict)
    pipelines: dict[str, PipelineDef] = Field(default_factory=dict)
    tasks: dict[str, TaskDef] = Field(default_factory=dict)
    guards: dict[str, GuardDef] = Field(default_factory=dict)
    strategies: dict[str, StrategyDef] = Field(default_factory=dict)
    locks: dict[str, LockDef] = Field(default_factory=dict)
    semaphores: dict[str, SemaphoreDef] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    functions: dict[str, ShellTemplate] = Field(default_factory=dict)
    events: RunbookEvents = Field(default_factory=RunbookEvents)

    def table(self, kind: Kind) -> dict[str, Any]:
        return getattr(self, _TABLES[kind])


_TABLES: dict[str, str] = {
    "command": "commands", "worker": "workers", "queue": "queues", "pipeline": "pipelines", "task": "tasks",
    "guard": "guards", "strategy": "strategies", "lock": "locks", "semaphore": "semaphores",
}


class RunbookSet(_Model):
    """Runbooks by name; what a pipeline run carries is the part it can reach (`registry.bundle`)."""
    runbooks: dict[str, Runbook]

    def get(self, reference: Ref) -> Any:
        runbook, kind, name = reference.split(".", 2)
        return self.runbooks[runbook].table(kind)[name]  # type: ignore[arg-type]


def describe_edge(target: Any) -> str:
    """Where a `next`, `on_fail` or `on_timeout` leads, in words: `verify`, `strategy merge`, `(end)`."""
    if isinstance(target, GotoPhase):
        return target.phase
    if isinstance(target, UseStrategy):
        return f"strategy {target.strategy}"
    if isinstance(target, RetryPhase):
        return f"retry (max {target.retry.max}, every {format_duration(target.retry.interval) if target.retry.interval else '0s'})"
    return {"done": "(end)", "failed": "(failed)"}.get(target.kind, target.kind)
