"""Runbooks: each table of a runbook's TOML is one model here, read from the TOML as written and
carried as it is by the workflows.

The client validates each table straight into its model (client/runbooks/parser.py), with a
`Reading` as pydantic's context (reading.py): then a model takes otters' spellings (`task = X` and
`run = { agent = X }`, `[task.X]` and `[agent.X]`, `idle_action = "wait:30s"` for `poll`), turns
durations into seconds, names into references and strings into templates, and says every problem
of its table at once. Without a Reading a model validates its own serialized form only: a
workflow's input, a recorded history.

A reference is qualified, `runbook.kind.name` (`common.task.planning`), so a definition can be
looked up in a `RunbookSet` without knowing which file said it. Templates keep their source and
their syntax (`{name}` inline, `{{ name }}` in template files) and are rendered at run time with
workflows/runbooks/templates.py; a field typed `ShellTemplate` renders a shell command, and only
those quote their values for the shell. Durations are seconds.

What one table cannot see (a reference resolving, the phase graph, the variables a template
reads) is client/runbooks/validator.py's, which sees every runbook.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Annotated, Any, ClassVar, Literal, TypeGuard, cast, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import core_schema

from workflows.runbooks.arguments import ArgSpec, parse_arg_spec
from workflows.runbooks.branches import BRANCH, branch_problem
from workflows.runbooks.events import check_pattern
from workflows.runbooks.expressions import SortKey, check_filter, parse_order
from workflows.runbooks.reading import Reading, Said, did_you_mean, problem, problems, reading, wrong_type
from workflows.runbooks.templates import RESERVED, inspect
from workflows.sdk.durations import format_duration, parse_duration
from workflows.sdk.models import first_error

Kind = Literal["command", "worker", "queue", "pipeline", "task", "guard", "strategy", "lock", "semaphore", "cron", "monitor", "action"]
Ref = str
"""`runbook.kind.name`, e.g. `bugfix.pipeline.fix`."""

KIND_WORDS = {"command", "worker", "queue", "pipeline", "task", "agent", "guard", "strategy", "lock", "semaphore", "cron", "monitor", "action"}
"""What a reference may name as its kind (`agent` is otters' newer word for a task)."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ref(runbook: str, kind: Kind, name: str) -> Ref:
    return f"{runbook}.{kind}.{name}"


def split_ref(reference: Ref) -> tuple[str, Kind, str]:
    """`reference`'s runbook, kind and name. Its kind is a Kind: every Ref is made by ref() (the
    client reads references with reference(); a workflow gets them from the client). Read from the
    right: a runbook's name may hold dots (`build.minimal.toml` is the runbook `build.minimal`),
    a kind and an entry's name never do."""
    runbook, kind, name = reference.rsplit(".", 2)
    return runbook, cast("Kind", kind), name


def runbook_of(reference: Ref) -> str:
    """The runbook a reference's definition is in: `build.minimal.task.plan` -> `build.minimal`."""
    return reference.rsplit(".", 2)[0]


def is_kind(word: str) -> TypeGuard[Kind]:
    """`word` names a section of named entries (`pipeline`; `agent`, the word a runbook may write for a task, is not one)."""
    return word in _TABLES


class _Model(BaseModel):
    # Built on first use: every worker imports these (its runbook workflows and activities), and a
    # run of a strategy, on a cold start's path, never validates one (docs/benchmarks.md).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def toml(read: Callable[[Any, Reading, str], Any]) -> BeforeValidator:
    """A key's value as the TOML writes it, read by `read(value, reading, key)`; without a Reading
    (a serialized model) or once read (a model), the value as it is."""
    def check(value: Any, info: ValidationInfo) -> Any:
        r = reading(info)
        return value if r is None or isinstance(value, BaseModel) else read(value, r, r.key())
    return BeforeValidator(check)


# -- values: what a key holds, and how it is written ---------------------------------------------

class Template(_Model):
    """Written as a string: `"make test"`, `"Fix {bug.id}"`; its origin is where it was written."""
    source: str
    syntax: Literal["inline", "file"] = "inline"
    runbook: str
    """The runbook whose `[config]` the template sees as `config`."""
    origin: str = ""
    """Where it was written, for errors: `bugfix.toml: task.fix: prompt`, or a template file's path."""
    shell: bool = False
    """It renders a shell command: set by the field that holds it (ShellTemplate), never by hand."""

    @model_validator(mode="before")
    @classmethod
    def _from_toml(cls, value: Any, info: ValidationInfo) -> Any:
        r = reading(info)
        return dict(template(value, r, r.key())) if r is not None and not isinstance(value, Template) else value  # its fields: a before validator's


def template(value: Any, r: Reading, key: str) -> Template:
    """A template written at `key` of the table being read; its syntax is checked."""
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    written = Template(source=value, runbook=r.runbook, origin=f"{r.file}: {r.place}: {key}")
    try:
        inspect(written)
    except ValueError as e:
        raise problem(f"{key}: {e}") from None
    return written


def _in_shell(template: Template) -> Template:
    return template if template.shell else template.model_copy(update={"shell": True})


ShellTemplate = Annotated[Template, AfterValidator(_in_shell)]
"""The one definition of which templates are shell commands: every field of this type, and no
other, quotes the values it interpolates for the shell (workflows/runbooks/shell.py)."""


def templates(value: Any, r: Reading, key: str) -> dict[str, Template]:
    """A table of templates written at `key`: each is said by its own key (`env.TOKEN`)."""
    if not isinstance(value, dict):
        raise wrong_type(key, "a table", value)
    said = Said()
    found = {name: said.attempt(template, source, r, f"{key}.{name}") for name, source in value.items()}
    said.raise_if_any()
    return found


Templates = Annotated[dict[str, Template], toml(templates)]
"""A table of templates: `env = { TOKEN = "{config.token}" }`."""


def seconds(value: Any, r: Reading | None, key: str) -> float:
    """A duration as written (`90`, `"30s"`, `"1h30m"`), in seconds."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise wrong_type(key, "a duration (30s, 5m, 1h30m) or a number of seconds", value)
    try:
        return parse_duration(value)
    except ValueError as e:
        raise problem(f"{key}: {e}") from None


Seconds = Annotated[float, toml(seconds)]
"""A duration: seconds (90) or 30s, 5m, 2h, 1h30m, 1d."""


class OneOf:
    """A choice among a field's Literal; on a list of them, one choice may be written as a string
    (`on_stuck = "nudge"` or `["nudge", "restart"]`). A choice not offered names the ones that are."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        many = get_origin(source) is list
        choices = [str(c) for c in get_args(get_args(source)[0] if many else source)]

        def check(value: Any, info: ValidationInfo) -> Any:
            r = reading(info)
            if r is None:
                return value
            key = r.key()
            if many and isinstance(value, str):
                value = [value]
            if not isinstance(value, list if many else str):
                raise wrong_type(key, "a string or a list" if many else "a string", value)
            wrong = [v for v in (value if many else [value]) if v not in choices]
            if wrong:
                raise problems([f"{key} = {v!r}{did_you_mean(str(v), choices)}: one of {', '.join(choices)}" for v in wrong])
            return value

        return core_schema.with_info_before_validator_function(check, handler(source))


def reference(kind: Kind, text: Any, r: Reading, key: str) -> Ref:
    """`name`, `kind.name` or `runbook.kind.name` -> `runbook.kind.name` (a task's kind may be written agent)."""
    if not isinstance(text, str):
        raise wrong_type(key, "a string", text)
    parts = text.split(".")
    if len(parts) == 1:
        return ref(r.runbook, kind, text)
    if len(parts) >= 2 and parts[-2] in KIND_WORDS and all(parts):
        found = "task" if parts[-2] == "agent" else parts[-2]
        if found != kind:
            raise problem(f"{key} = {text!r} names a {parts[-2]}; {key} takes a {kind}")
        return ref(".".join(parts[:-2]) if len(parts) >= 3 else r.runbook, kind, parts[-1])
    raise problem(f"{key} = {text!r}: write NAME, {kind}.NAME or RUNBOOK.{kind}.NAME (e.g. common.{kind}.{parts[-1]})")


GuardRef = Annotated[Ref, toml(partial(reference, "guard"))]
LockRef = Annotated[Ref, toml(partial(reference, "lock"))]
SemaphoreRef = Annotated[Ref, toml(partial(reference, "semaphore"))]
QueueRef = Annotated[Ref, toml(partial(reference, "queue"))]
MonitorRef = Annotated[Ref, toml(partial(reference, "monitor"))]


def _event_patterns(value: Any, r: Reading, key: str) -> list[Template]:
    if not isinstance(value, list):
        raise wrong_type(key, "a list", value)
    said, kept = Said(), []
    for pattern in value:
        if not isinstance(pattern, str):
            said.add(wrong_type(key, "a string", pattern))
            continue
        try:
            check_pattern(pattern)
        except ValueError as e:
            said.say(f"{key}: {e}")
            continue
        kept.append(said.attempt(template, pattern, r, key))
    said.raise_if_any()
    return kept


EventPatterns = Annotated[list[Template], toml(_event_patterns)]
"""Event patterns (workflows/runbooks/events.py): `["bug:created", "pipeline:{name}:merged"]`."""


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


# -- tables: what a model reads from the TOML ----------------------------------------------------

class _Table(_Model):
    """A table of the TOML. Read with a Reading, it takes the keys of KEYS (an unknown one is a
    problem that names them) as `spelling` turns them into its fields; every problem of the table
    is said at once."""

    KEYS: ClassVar[tuple[str, ...]] = ()
    """The keys the table takes, in the order problems list them; by default, its fields."""
    _NOT_KEYS: ClassVar[tuple[str, ...]] = ()
    """Fields the TOML does not write."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "KEYS" not in cls.__dict__:
            cls.KEYS = tuple(name for name in cls.model_fields if name not in cls._NOT_KEYS)

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        """The table as the model's fields: otters' spellings become the value they mean. A field
        whose problem is said here is marked `said.spoke(field)`, so it is not said twice."""
        for key in [k for k in table if k not in cls.KEYS]:
            said.unknown(key, table.pop(key))
        return table

    @field_validator("*", mode="wrap")
    @classmethod
    def _at_key(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        r = reading(info)
        if r is None or info.field_name is None:
            return handler(value)
        with r.within(info.field_name):
            return handler(value)

    @model_validator(mode="wrap")
    @classmethod
    def _read(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        r = reading(info)
        if r is None or not isinstance(data, dict):
            return handler(data)
        said = Said()
        table = cls.spelling(dict(data), r, said)
        try:
            model = handler(table)
        except ValidationError as e:
            said.add(e)
            model = None
        said.raise_if_any()
        return model


class _Entry(_Table):
    """A named entry of a section, `[pipeline.build]`: its ref and name come from the TOML's key."""
    KIND: ClassVar[Kind]
    _NOT_KEYS = ("ref", "name")
    ref: Ref
    name: str

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        return {**table, "ref": ref(r.runbook, cls.KIND, r.entry), "name": r.entry}


def _interval(value: Any, r: Reading | None, key: str) -> float:
    """A duration, or 0 (at once)."""
    return 0.0 if value in (0, "0") and not isinstance(value, bool) else seconds(value, r, key)


class Retry(_Table):
    """`{ max = 3, interval = "10s" }`: try again, at most `max` times, `interval` apart (default 0)."""
    max: int = Field(ge=1)
    interval: Annotated[float, Field(ge=0), toml(_interval)]
    """Seconds; `0` (or unwritten) at once."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        return {"interval": 0.0, **super().spelling(table, r, said)}


def retry(value: Any, key: str) -> Retry:
    """`on_fail = { retry = { max = 3, interval = "10s" } }`, said as one line when it is not that."""
    if not isinstance(value, dict) or set(value) - {"max", "interval"} or not isinstance(value.get("max"), int) or value["max"] < 1:
        raise problem(f'{key}: write {{ max = 3, interval = "10s" }} (max at least 1)')
    interval = _interval(value.get("interval", 0), None, f"{key}.interval")
    return Retry(max=value["max"], interval=interval)


# -- what a phase (or a chain's attempt) does ---------------------------------------------------

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


class RunChain(_Model):
    """A strategy chain (`run = { strategy = NAME }`); `kind` and `strategy` keep the runbook's word."""
    kind: Literal["strategy"] = "strategy"
    strategy: Ref


class RunPipeline(_Model):
    kind: Literal["pipeline"] = "pipeline"
    pipeline: Ref
    inputs: dict[str, Template] = Field(default_factory=dict)
    """The child's inputs; an input left out takes the parent's value of the same name."""


class RunOrchardStrategy(_Model):
    """An Orchard strategy (best-of-n, loop, ...: a run-level Strategy) as a child workflow, from
    `run = { orchard = "best-of-n", ... }`; its winner is merged into the pipeline's branch."""
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


PhaseAction = Annotated[RunShell | RunTask | RunChain | RunPipeline | RunOrchardStrategy | NoAction, Field(discriminator="kind")]
ChainAttemptAction = Annotated[RunShell | RunTask, Field(discriminator="kind")]
RUN_TABLE_KEYS = ("agent", "task", "strategy", "pipeline", "orchard")


def run_table(table: dict[str, Any], r: Reading, phase: bool) -> Any:
    """`run = { agent = X }` or `{ task = X }`; in a phase also `{ strategy = X }`,
    `{ pipeline = X, inputs = {...} }` and `{ orchard = "best-of-n", agent = X, n = 3 }`."""
    if phase and "orchard" in table:
        return _orchard(table, r)
    kinds = [k for k in table if k in (RUN_TABLE_KEYS if phase else ("agent", "task"))]
    if len(kinds) != 1:
        forms = "{ agent = NAME }, { strategy = NAME }, { pipeline = NAME } or { orchard = STRATEGY, ... }" if phase else "{ agent = NAME }"
        raise problem(f"run: write {forms}")
    kind, value = kinds[0], table[kinds[0]]
    extra = sorted(set(table) - {kind} - ({"inputs"} if kind == "pipeline" else set()))
    if extra or not isinstance(value, str):
        raise problem(f"run = {{ {kind} = ... }}: {kind} is a name" + (f"; unknown keys {', '.join(extra)}" if extra else ""))
    if kind in ("agent", "task"):
        return RunTask(task=reference("task", value, r, r.key(f"run.{kind}")))
    if kind == "strategy":
        return RunChain(strategy=reference("strategy", value, r, r.key("run.strategy")))
    inputs = table.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise problem('run.inputs: a table of templates, e.g. inputs = { name = "{name}-docs" }')
    said = Said()
    pipeline = said.attempt(reference, "pipeline", value, r, r.key("run.pipeline"))
    given = {name: said.attempt(template, source, r, r.key(f"run.inputs.{name}")) for name, source in inputs.items()}
    said.raise_if_any()
    return RunPipeline(pipeline=pipeline, inputs=given)


def _orchard(table: dict[str, Any], r: Reading) -> RunOrchardStrategy:
    strategy = table.get("orchard")
    if not isinstance(strategy, str):
        raise problem('run: write { orchard = "best-of-n", agent = NAME, n = 3 } (orchard names an Orchard strategy)')
    said = Said()
    agent, prompt = table.get("agent", table.get("task")), table.get("prompt")
    if (agent is None) == (prompt is None) or not isinstance(agent or prompt, str):
        said.say("run = { orchard = ... }: give the instances' task as agent = NAME or prompt = \"...\" (one of them)")
    found = RunOrchardStrategy(
        strategy=strategy, params={k: v for k, v in table.items() if k not in ("orchard", "agent", "task", "prompt")},
        task=said.attempt(reference, "task", agent, r, r.key("run.agent")) if isinstance(agent, str) else None,
        prompt=said.attempt(template, prompt, r, r.key("run.prompt")) if isinstance(prompt, str) else None,
    )
    said.raise_if_any()
    return found


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


class UseChain(_Model):
    """`on_fail` runs a strategy chain (`on_fail = "merge"`); `kind` and `strategy` keep the runbook's word."""
    kind: Literal["strategy"] = "strategy"
    strategy: Ref


class RetryPhase(_Model):
    kind: Literal["retry"] = "retry"
    retry: Retry


class UseAction(_Model):
    """`on_fail` names an `[action.NAME]`, as otters' custom on_fail values do (`verify_and_retry`):
    its command runs with the phase's values and `error`; when it succeeds the phase runs again (at
    most the action's max_attempts times in one run), else the pipeline fails."""
    kind: Literal["action"] = "action"
    action: Ref


def _next(value: Any, r: Reading, key: str) -> GotoPhase | Done | Failed:
    """A phase, or `done`, `failed` (`fail`), which end the pipeline unless a phase has that name
    (otters' build has a phase "done")."""
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    if value not in r.phases and value in ("done", "failed", "fail"):
        return Done() if value == "done" else Failed()
    return GotoPhase(phase=value)


def _on_fail(value: Any, r: Reading, key: str) -> Any:
    """A phase (first), `escalate`, `failed`, a strategy chain (`merge` when no phase has the name,
    or `strategy.merge`), an action (`verify_and_retry` when `[action.verify_and_retry]` exists, or
    `action.NAME`), or `{ retry = { max = 3, interval = "10s" } }`. A name that is none of them is
    read as a phase, which the validator says is missing."""
    if isinstance(value, dict):
        if set(value) == {"retry"}:
            return RetryPhase(retry=retry(value["retry"], f"{key}.retry"))
        raise problem(f'{key}: write a phase, "escalate", "failed", a strategy or {{ retry = {{ max = 3, interval = "10s" }} }}')
    if not isinstance(value, str):
        raise wrong_type(key, "a string or a table", value)
    if value in r.phases:
        return GotoPhase(phase=value)
    if value == "escalate":
        return Escalate()
    if value in ("failed", "fail"):
        return Failed()
    if "." in value and value.split(".")[-2] == "action":
        return UseAction(action=reference("action", value, r, key))
    if "." in value or r.defines("strategy", value):
        return UseChain(strategy=reference("strategy", value, r, key))
    if r.defines("action", value):
        return UseAction(action=ref(r.runbook, "action", value))
    return GotoPhase(phase=value)


class KeepWaiting(_Model):
    """`on_timeout = "wait"`: the phase goes on waiting for its guard past the guard's timeout."""
    kind: Literal["wait"] = "wait"


class TimeoutCommand(_Model):
    """`on_timeout = "oj queue remove merges {id}"` (otters' mergeq): the command runs, then the guard's phase fails."""
    kind: Literal["command"] = "command"
    command: ShellTemplate


def _on_timeout(value: Any, r: Reading, key: str) -> Any:
    """escalate, failed (fail), wait, a phase of the pipeline the guard waits in (one word), or a shell command."""
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    if value == "escalate":
        return Escalate()
    if value in ("fail", "failed"):
        return Failed()
    if value == "wait":
        return KeepWaiting()
    if not _IDENTIFIER.fullmatch(value.replace("-", "_")):
        return TimeoutCommand(command=template(value, r, key))
    return GotoPhase(phase=value)


Next = Annotated[GotoPhase | Done | Failed, Field(discriminator="kind")]
FailAction = Annotated[GotoPhase | Failed | Escalate | UseChain | RetryPhase | UseAction, Field(discriminator="kind")]
TimeoutAction = Annotated[GotoPhase | Failed | Escalate | KeepWaiting | TimeoutCommand, Field(discriminator="kind")]


# -- definitions ------------------------------------------------------------------------------

class PhaseDef(_Table):
    """`[[pipeline.NAME.phase]]`: one step of a pipeline. It does one thing, written one of
    otters' ways: `run = "make test"` (a shell command, with `cwd` and `env`); `run = { agent =
    NAME }`, `task = NAME` or `agent = NAME` (an agent task); `run = { strategy = NAME }` or
    `strategy = NAME` (a strategy chain); `run = { pipeline = NAME, inputs = {...} }` or `pipeline =
    NAME` (another pipeline); `run = { orchard = "best-of-n", agent = NAME, n = 3 }` (an Orchard
    strategy); or nothing, and it waits on its guards."""
    KEYS = ("name", "run", "task", "agent", "strategy", "pipeline", "pre", "post", "lock", "semaphore", "next", "on_fail", "cwd", "env", "timeout")
    name: str
    """What `next`, `on_fail` and `outputs.NAME` call it; unique in its pipeline."""
    action: PhaseAction
    """What it does, from `run` (and `cwd`, `env`), `task`, `agent`, `strategy` or `pipeline`."""
    pre: list[GuardRef] = Field(default_factory=list)
    """Guards that must hold before the phase runs (each waits, or fails, as it says)."""
    post: list[GuardRef] = Field(default_factory=list)
    """Guards that must hold after it."""
    lock: LockRef | None = None
    """Held while the phase runs."""
    semaphore: SemaphoreRef | None = None
    """A slot of it held while the phase runs."""
    next: Annotated[Next, toml(_next)] = Field(default_factory=Done)
    """Where the pipeline goes when the phase succeeds; unwritten, the phase written after it (or done)."""
    on_fail: Annotated[FailAction, toml(_on_fail)] = Field(default_factory=Failed)
    """Where it goes when the phase fails: a phase, escalate, failed, a strategy chain, a retry, or an action."""
    timeout: Seconds | None = None
    """How long the phase may run (a command's step or an agent's run)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        given = {k: table.pop(k) for k in ("run", "task", "agent", "strategy", "pipeline") if k in table}
        cwd, env = table.pop("cwd", None), table.pop("env", None)
        if len(given) > 1:
            said.say(f"a phase does one thing; it has {' and '.join(given)} (write one of run, task/agent, strategy, pipeline)")
        key, value = next(iter(given.items()), ("", None))
        shell = [said.attempt(template, cwd, r, r.key("cwd")) if cwd is not None else None,
                 said.attempt(templates, env, r, r.key("env")) if env is not None else {}]
        action: Any = None
        if not key:
            action = NoAction()
        elif key == "run" and isinstance(value, str):
            command = said.attempt(template, value, r, r.key("run"))
            action = RunShell(command=command, cwd=shell[0], env=shell[1] or {}) if command else None
        elif key == "run" and not isinstance(value, dict):
            said.add(wrong_type(r.key("run"), "a string or a table", value))
        elif key != "run" and not isinstance(value, str):
            said.add(wrong_type(r.key(key), "a string", value))
        else:
            action = said.attempt(run_table, value if key == "run" else {key: value}, r, True)
        if isinstance(action, (RunTask, RunChain, RunPipeline, RunOrchardStrategy, NoAction)) and (cwd is not None or env):
            said.say('cwd and env belong to a phase that runs a command (run = "..."); a task has its own')
        if action is None:
            said.spoke("action")
        else:
            table["action"] = action
        if "next" not in table:
            table["next"] = GotoPhase(phase=r.following) if r.following is not None else Done()
        return table


class PipelineEvents(_Table):
    """`[pipeline.NAME.events]`: commands run when the pipeline moves; `{name}`-style templates
    with `phase` and `error`."""
    on_start: ShellTemplate | None = None
    on_phase: ShellTemplate | None = None
    on_complete: ShellTemplate | None = None
    on_fail: ShellTemplate | None = None


MAX_PHASES = 200
"""Phases in one pipeline. Its run keeps every phase in one history (it does not continue as new),
each step an activity and a workflow task (6 events, ~5 ms to replay here), and a worker that takes
the run over replays that history whole in one workflow task: 200 phases, about 1 s of CPU."""


def _input_names(inputs: list[str], info: ValidationInfo) -> list[str]:
    if reading(info) is None:  # checked once its type is: an AfterValidator
        return inputs
    said = Said()
    for name in inputs:
        if not _IDENTIFIER.fullmatch(name):
            said.say(f"inputs: {name!r} is not a name (letters, digits and _)")
    twice = sorted({i for i in inputs if inputs.count(i) > 1})
    if twice:
        said.say(f"inputs: {', '.join(twice)} listed twice")
    said.raise_if_any()
    return inputs


def _branches(refs: list[str], info: ValidationInfo) -> list[str]:
    if reading(info) is not None:
        wrong = [name for name in refs if not BRANCH.fullmatch(name) or name.startswith(("refs/", "orchard/"))]
        if wrong:
            raise problems([f"publish: {name!r} is not a branch of your repository (e.g. main, release/1.2)" for name in wrong])
    return refs


def _phases(value: Any, r: Reading, key: str) -> list[PhaseDef]:
    """The pipeline's phases, as the client read them one by one (None: one it could not read)."""
    if not value:
        raise problem(f"has no phases; add [[{r.place}.phase]] tables")
    if len(value) > MAX_PHASES:
        raise problem(f"has {len(value):,} phases; a pipeline holds at most {MAX_PHASES:,} (its run keeps every phase in one "
                      'Temporal history): split it into pipelines that its phases run (run = { pipeline = "NAME" })')
    read = [p for p in value if p is not None]
    counted = Counter(p.name for p in read)
    twice = sorted(name for name, times in counted.items() if times > 1)
    if twice:
        raise problems([f"two phases are named {name!r}" for name in twice])
    return read


class PipelineDef(_Entry):
    """`[pipeline.NAME]`: phases run in order in one workspace, on one branch, moving by each
    phase's `next` and `on_fail`. Its phases are `[[pipeline.NAME.phase]]` tables (PhaseDef)."""
    KIND = "pipeline"
    KEYS = ("inputs", "defaults", "events", "publish", "max_visits", "description", "phase")
    inputs: Annotated[list[str], AfterValidator(_input_names)]
    """Values a run is given (`orchard runbook run build -i name=auth`), read by templates as `{name}`."""
    defaults: Templates = Field(default_factory=dict)
    """In the order written: a default may use the inputs and the defaults before it."""
    phases: Annotated[list[PhaseDef], Field(max_length=MAX_PHASES), toml(_phases)]
    """`[[pipeline.NAME.phase]]`, in the order written: the first runs first."""
    events: PipelineEvents = Field(default_factory=PipelineEvents)
    """`[pipeline.NAME.events]`, which win over the runbook's `[events]`."""
    publish: Annotated[list[str], AfterValidator(_branches)] = Field(default_factory=list)
    """Refs of the user's repository the pipeline may change (e.g. `main`); nothing else."""
    max_visits: int = Field(default=10, ge=1)
    """How often one phase may run in one pipeline run (a bound on loops back like verify -> fix)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        description = table.pop("description", "")
        if not isinstance(description, str):
            said.add(wrong_type("description", "a string", description))
        inputs, defaults = table.setdefault("inputs", []), table.get("defaults", {})
        if isinstance(inputs, list) and isinstance(defaults, dict):
            for own in [*inputs, *defaults]:
                if isinstance(own, str) and own in RESERVED:
                    said.say(f"{'inputs' if own in inputs else 'defaults'}: {own!r} is Orchard's ({RESERVED[own]}); give yours another name")
            branch = defaults.get("branch")
            why = branch_problem(branch.strip()) if isinstance(branch, str) and "{" not in branch else None
            if why:  # a name with a variable in it is checked when a run renders it (workflows/runbooks/branches.py)
                said.say(f"defaults: branch = {why}")
        table["phases"] = table.pop("phase", [])
        return table

    def required_inputs(self) -> list[str]:
        return [name for name in self.inputs if name not in self.defaults]

    def phase(self, name: str) -> PhaseDef:
        return next(p for p in self.phases if p.name == name)


def _task_on_timeout(value: Any, r: Reading, key: str) -> Any:
    """fail, escalate, requeue, or an action's name (otters' validator takes any name here)."""
    choices = ("fail", "escalate", "requeue")
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    if value in choices:
        return value
    if "." in value and value.split(".")[-2] == "action":
        return UseAction(action=reference("action", value, r, key))
    if r.defines("action", value):
        return UseAction(action=ref(r.runbook, "action", value))
    raise problem(f"{key} = {value!r}{did_you_mean(value, choices)}: one of {', '.join(choices)}, or an action's name "
                  f"(there is no [action.{value}])")


class TaskDef(_Entry):
    """An agent task, `[task.NAME]` (the seed's spelling) or `[agent.NAME]` (the newer one): the
    prompt, `prompt = "..."` or `prompt_file = "prompts/x.md"` (a template file beside the
    runbooks, `{{ name }}`), and the agent settings it overrides."""
    KIND = "task"
    KEYS = ("run", "command", "prompt", "prompt_file", "plugin", "model", "max_turns", "env", "cwd", "heartbeat", "timeout", "idle_timeout",
            "on_stuck", "on_timeout", "checkpoint", "checkpoint_interval")
    prompt: Template
    """What the agent is asked, `prompt` or `prompt_file`."""
    command: ShellTemplate | None = None
    """The agent's command line (the command plugin, `bash -c`): `run = "claude --print"` (`command` is otters' older spelling)."""
    plugin: str | None = None
    """The agent plugin (claude-code, codex, command); unset, the run's."""
    model: str | None = None
    """The model the plugin asks for; unset, the run's."""
    max_turns: int | None = Field(default=None, ge=1)
    """At most this many agent turns; unset, the run's."""
    env: Templates = Field(default_factory=dict)
    """Environment of the agent's command line."""
    cwd: Template | None = None
    """Where the agent's command line runs (read and checked; no run acts on it yet)."""
    timeout: Seconds | None = None
    """How long one agent run may take."""
    idle_timeout: Seconds | None = None
    """How long the agent may print nothing (read and checked; no run acts on it yet)."""
    heartbeat: Annotated[Literal["output", "none"], OneOf()] = "output"
    """What shows the agent is alive: its output, or nothing (read and checked; no run acts on it yet)."""
    on_stuck: Annotated[list[Literal["nudge", "restart", "escalate"]], OneOf()] = Field(default_factory=list)
    """What is done, in turn, with an agent past its idle_timeout (read and checked; no run acts on it yet)."""
    on_timeout: Annotated[Literal["fail", "escalate", "requeue"] | UseAction, toml(_task_on_timeout)] = "fail"
    """What follows an agent past its timeout: it fails; an action (otters' `checkpoint_and_escalate`,
    an `[action.NAME]`) runs first in a pipeline's phase. (escalate and requeue are read and checked; no run acts on them yet.)"""
    checkpoint: ShellTemplate | None = None
    """A command saving the agent's progress (read and checked; no run acts on it yet)."""
    checkpoint_interval: Seconds | None = None
    """How often checkpoint runs (read and checked; no run acts on it yet)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        prompt, prompt_file = table.pop("prompt", None), table.pop("prompt_file", None)
        if (prompt is None) == (prompt_file is None):
            said.say("give the agent's prompt as prompt = \"...\" or prompt_file = \"prompts/x.md\" (one of them)")
        elif prompt is not None:
            table["prompt"] = said.attempt(template, prompt, r, "prompt")
        else:
            table["prompt"] = said.attempt(_prompt_file, prompt_file, r)
        if table.get("prompt") is None:
            table.pop("prompt", None)
            said.spoke("prompt")
        run, command = table.pop("run", None), table.pop("command", None)
        if run is not None and command is not None:
            said.say("run and command both give the agent's command line; keep run (command is otters' older spelling)")
        if (run or command) is not None:
            table["command"] = said.attempt(template, run or command, r, "run")
        plugin = table.get("plugin")
        if isinstance(plugin, str) and r.plugins and plugin not in r.plugins:
            said.say(f"plugin = {plugin!r}{did_you_mean(plugin, r.plugins)}: one of {', '.join(sorted(r.plugins))}")
        elif isinstance(plugin, str) and plugin != "command" and (run or command):
            said.say(f"run is the command plugin's agent command line; plugin {plugin} runs its own CLI (drop run, or plugin)")
        return table


def _prompt_file(relative: Any, r: Reading) -> Template:
    """A template file, as the client reads it (inside the runbooks' folder); its variables are `{{ name }}`."""
    if not isinstance(relative, str):
        raise wrong_type("prompt_file", "a string", relative)
    if r.read_prompt_file is None:
        raise problem(f"prompt_file {relative!r}: no files are read here")
    try:
        source, path = r.read_prompt_file(relative)
    except ValueError as e:
        raise problem(str(e)) from None
    written = Template(source=source, syntax="file", runbook=r.runbook, origin=path)
    try:
        inspect(written)
    except ValueError as e:
        raise problem(f"prompt_file {relative!r}: {e}") from None
    return written


class GuardDef(_Entry):
    """`[guard.NAME]`: a condition a phase waits for (`pre`) or checks after it ran (`post`)."""
    KIND = "guard"
    condition: ShellTemplate
    """A shell command: exit 0 means the condition holds."""
    timeout: Seconds | None = None
    """How long a phase waits for it; unset, it is checked once."""
    on_timeout: Annotated[TimeoutAction, toml(_on_timeout)] = Field(default_factory=Escalate)
    """escalate, failed, a phase of the pipeline to go to, wait (past the timeout too), or a shell
    command that runs before the phase fails (`oj queue remove merges {id}`)."""
    retry: Retry | None = None
    """Check again, at most `max` times, `interval` apart, before the guard fails."""
    wake_on: EventPatterns = Field(default_factory=list)
    """Event patterns (workflows/runbooks/events.py) that make a waiting guard check again."""


class ChainAttemptDef(_Table):
    """`[[strategy.NAME.attempt]]`: one approach of a strategy chain, a command (`run = "..."`) or
    an agent (`run = { agent = NAME }`, or `task = NAME` or `agent = NAME`, as a phase takes them)."""
    KEYS = ("name", "run", "task", "agent", "timeout", "rollback")
    name: str
    """Unique in its chain; the templates of the chain read it as `attempt`."""
    action: ChainAttemptAction
    """What it runs, from `run` or `task`."""
    timeout: Seconds | None = None
    """How long the attempt may run before it counts as failed."""
    rollback: ShellTemplate | None = None
    """Rendered with `checkpoint`; runs when this attempt fails or times out."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        run, task, agent = table.pop("run", None), table.pop("task", None), table.pop("agent", None)
        action: Any = None
        if [run, task, agent].count(None) != 2:
            said.say('an attempt runs a command (run = "...") or an agent (run = { agent = NAME }, agent = NAME or task = NAME): one of them')
        elif task is not None or agent is not None:
            found = said.attempt(reference, "task", task if task is not None else agent, r, "task" if task is not None else "agent")
            action = RunTask(task=found) if found else None
        elif isinstance(run, str):
            command = said.attempt(template, run, r, "run")
            action = RunShell(command=command) if command else None
        elif isinstance(run, dict):
            action = said.attempt(run_table, run, r, False)
        else:
            said.add(wrong_type("run", "a string or a table", run))
        if action is None:
            said.spoke("action")
            return table
        return {**table, "action": action}


class ExhaustAction(_Model):
    """`on_exhaust`: "escalate", "fail", or `{ retry = { after = "10m", max = 1 } }`."""
    kind: Literal["escalate", "fail", "retry"] = "escalate"
    after: float | None = None
    """For retry: how long to wait before the chain runs again (a durable timer)."""
    max: int = 1
    """For retry: how many times the chain runs again before it fails."""


def _on_exhaust(value: Any, r: Reading, key: str) -> ExhaustAction:
    if value in ("escalate", "fail"):
        return ExhaustAction(kind=value)
    if not isinstance(value, (str, dict)):
        raise wrong_type(key, "a string or a table", value)
    again = value.get("retry") if isinstance(value, dict) and set(value) == {"retry"} else None
    most = again.get("max", 1) if isinstance(again, dict) else None
    if not isinstance(again, dict) or "after" not in again or set(again) - {"after", "max"} or not isinstance(most, int) or most < 1:
        raise problem(f'on_exhaust = {value!r}: write "escalate", "fail" or {{ retry = {{ after = "10m", max = 1 }} }}')
    return ExhaustAction(kind="retry", after=seconds(again["after"], r, f"{key}.retry.after"), max=most)


def _attempts(value: Any, r: Reading, key: str) -> list[ChainAttemptDef]:
    """The chain's attempts, as the client read them one by one (None: one it could not read)."""
    if not value:
        raise problem(f"has no attempts; add [[{r.place}.attempt]] tables")
    read = [a for a in value if a is not None]
    names = [a.name for a in read]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise problems([f"two attempts are named {name!r}" for name in twice])
    return read


class ChainDef(_Entry):
    """`[strategy.NAME]`: a strategy chain: a checkpoint, then each attempt in turn until one
    succeeds, each failed one rolled back; when none does, `on_exhaust`. Its attempts are
    `[[strategy.NAME.attempt]]` tables (ChainAttemptDef). The runbook calls it a strategy (and
    `Runbook.strategies` keeps that name); the code calls it a chain, as an Orchard strategy is
    something else (RunOrchardStrategy)."""
    KIND = "strategy"
    KEYS = ("checkpoint", "on_exhaust", "attempt")
    checkpoint: ShellTemplate | None = None
    """A command whose output the rollbacks get as `{checkpoint}` (e.g. `git rev-parse HEAD`)."""
    attempts: Annotated[list[ChainAttemptDef], toml(_attempts)]
    """`[[strategy.NAME.attempt]]`, tried in the order written."""
    on_exhaust: Annotated[ExhaustAction, toml(_on_exhaust)] = Field(default_factory=ExhaustAction)
    """When every attempt failed: escalate (ask a person), fail, or run the chain again later."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        table["attempts"] = table.pop("attempt", [])
        return table


StaleAction = Literal["release", "rollback", "cleanup", "escalate"]


class LockDef(_Entry):
    """`[lock.NAME]`: one holder at a time (a phase's `lock`)."""
    KIND = "lock"
    timeout: Seconds | None = None
    """How long one holder may hold it."""
    heartbeat: Seconds | None = None
    """How often a holder says it is alive (30 s when unset); a silent holder is stale."""
    on_stale: Annotated[list[StaleAction], OneOf()] = Field(default_factory=lambda: list[StaleAction](["release"]))
    """What is done with a phase whose lock was taken back: release it only, roll its work back,
    clean up its files, ask a person (one or several)."""

    def lease(self) -> tuple[int, float, float | None]:
        """What ctx.hold takes: one holder, its heartbeat (30 s when unset), how long it may hold."""
        return 1, self.heartbeat or 30.0, self.timeout


class SemaphoreDef(_Entry):
    """`[semaphore.NAME]`: at most `max` holders at a time (a phase's `semaphore`)."""
    KIND = "semaphore"
    max: int = Field(ge=1)
    """How many may hold it at once."""
    slot_timeout: Seconds | None = None
    """How long one holder may hold a slot."""
    slot_heartbeat: Seconds | None = None
    """How often a holder says it is alive (30 s when unset); a silent holder's slot is taken back."""
    on_orphan: Annotated[Literal["reclaim", "escalate"], OneOf()] = "reclaim"
    """What follows a slot taken back from a phase: go on, or ask a person."""
    on_orphan_work: Annotated[Literal["requeue", "fail"], OneOf()] = "fail"
    """What becomes of that phase's work (read and checked; no run acts on it yet)."""

    def lease(self) -> tuple[int, float, float | None]:
        """What ctx.hold takes: `max` holders, the slot's heartbeat (30 s when unset), how long a slot may be held."""
        return self.max, self.slot_heartbeat or 30.0, self.slot_timeout


class DeadLetters(_Table):
    """`[queue.NAME.dead]`: where items go that ran out of retries."""
    retention: Seconds | None = None
    """How long dead items are kept (read and checked; no run acts on it yet)."""
    on_add: ShellTemplate | None = None
    """A command run for each, with `item` and `reason`."""


def _filter(expression: str, info: ValidationInfo) -> str:
    r = reading(info)
    if r is not None:
        try:
            check_filter(expression, set(r.functions))
        except ValueError as e:
            raise problem(str(e)) from None
    return expression


def _order(value: Any, r: Reading, key: str) -> list[SortKey]:
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    try:
        return parse_order(value) if value else []
    except ValueError as e:
        raise problem(str(e)) from None


class QueueDef(_Entry):
    """`[queue.NAME]`: items a queue consumer (`[worker.NAME]`) takes, printed by `source` or added by commands."""
    KIND = "queue"
    source: ShellTemplate | None = None
    """A shell command printing the items; without it, items are added by commands."""
    format: Annotated[Literal["json", "lines", "csv", "kv"], OneOf()] = "json"
    """How `source` prints items (workflows/runbooks/inputs.py)."""
    filter: Annotated[str, AfterValidator(_filter)] | None = None
    """An expression over an item (workflows/runbooks/expressions.py)."""
    order: Annotated[list[SortKey], toml(_order)] = Field(default_factory=list)
    """`priority DESC, id`."""
    visibility_timeout: Seconds | None = None
    """How long a taken item stays hidden from other consumers (read and checked; no run acts on it yet)."""
    max_retries: int = Field(default=0, ge=0)
    """How many more times an item that failed is handled, while the source still lists it."""
    on_exhaust: Annotated[Literal["dead", "escalate", "wait", "drop"], OneOf()] = "dead"
    """What becomes of an item out of retries: a dead letter, a person's question, or dropped."""
    dead: DeadLetters = Field(default_factory=DeadLetters)


def _handler(value: Any, r: Reading, key: str) -> Ref:
    """`pipeline.NAME` or `task.NAME` (`RUNBOOK.pipeline.NAME`), or a name only one of them has."""
    if not isinstance(value, str):
        raise wrong_type(key, "a string", value)
    parts = value.split(".")
    kind = parts[-2] if len(parts) >= 2 else None
    if kind in ("pipeline", "task", "agent"):
        return reference("pipeline" if kind == "pipeline" else "task", value, r, key)
    handlers: tuple[Kind, ...] = ("pipeline", "task")
    local = [k for k in handlers if r.defines(k, value)] if len(parts) == 1 else []
    if len(local) == 1:
        return ref(r.runbook, local[0], value)
    raise problem(f"handler = {value!r}: write pipeline.NAME or task.NAME (or RUNBOOK.pipeline.NAME)")


class ConsumerDef(_Entry):
    """`[worker.NAME]`, a queue worker: takes the items of a queue, `concurrency` at a time, each
    to its handler. The runbook calls it a worker (and `Runbook.workers` keeps that name); the code
    calls it a queue consumer (workflows/runbooks/consumer.py runs it), as a worker is the Temporal
    worker process (worker.py)."""
    KIND = "worker"
    KEYS = ("queue", "handler", "concurrency", "poll", "idle_action", "wake_on", "on_unhealthy")
    queue: QueueRef
    """The queue whose items it takes."""
    handler: Annotated[Ref, toml(_handler)]
    """A pipeline (its inputs filled from the item's fields by name, else the item is its one required input) or a task;
    both read the item's fields, `item`, and the item named after its queue (workflows/runbooks/items.py)."""
    concurrency: int = Field(default=1, ge=1)
    """How many items it handles at once."""
    idle_wait: float = 30.0
    """`poll = "30s"` (otters' `idle_action = "wait:30s"`): how long the consumer waits before it reads its queue again."""
    wake_on: EventPatterns = Field(default_factory=list)
    """Events that make the consumer read its queue at once."""
    on_unhealthy: Annotated[Literal["restart", "escalate"], OneOf()] = "restart"
    """What follows a consumer that stops (read and checked; no run acts on it yet)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        poll, idle_action = table.pop("poll", None), table.pop("idle_action", None)
        if poll is not None and idle_action is not None:
            said.say(f'poll and idle_action both say how often the queue is read: keep poll = {poll!r} (idle_action = "wait:…" is otters\' spelling of it)')
        elif poll is not None:
            table["idle_wait"] = said.attempt(seconds, poll, r, "poll", default=30.0)
        elif not isinstance(idle_action, str) and idle_action is not None:
            said.add(wrong_type("idle_action", "a string", idle_action))
        elif idle_action is not None:
            match = re.fullmatch(r"wait(?::(.+))?", idle_action)
            if match is None:
                said.say(f'idle_action = {idle_action!r}: write "wait" or "wait:30s"')
            elif match[1]:
                table["idle_wait"] = said.attempt(seconds, match[1], r, "idle_action", default=30.0)
        return table


class CommandDef(_Entry):
    """`[command.NAME]`: `orchard runbook run NAME WORD…` runs a pipeline (`run = { pipeline =
    "build" }`) or a shell command (`run = "..."`) with the words read by `args`."""
    KIND = "command"
    KEYS = ("args", "run", "aliases", "defaults", "description")
    args: ArgSpec
    """`args = "<name> <prompt> [-r/--reviewer <who>]"` (workflows/runbooks/arguments.py), with
    `aliases = { r = "reviewer" }` for short names."""
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Values of the args a user leaves out."""
    action: RunPipeline | RunShell
    """From `run`; `description` is for people and not kept."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        args, aliases, run = table.pop("args", ""), table.pop("aliases", {}), table.pop("run", None)
        for key, value, expected in (("args", args, str), ("aliases", aliases, dict), ("description", table.pop("description", ""), str)):
            if not isinstance(value, expected):
                said.add(wrong_type(key, "a string" if expected is str else "a table", value))
        for alias, long in aliases.items() if isinstance(aliases, dict) else ():
            if not isinstance(long, str):
                said.add(wrong_type(f"aliases.{alias}", "a string", long))
        spec = ArgSpec()
        if isinstance(args, str) and isinstance(aliases, dict):
            try:
                spec = parse_arg_spec(args, aliases)
            except ValueError as e:
                said.say(f"args: {e}")
        table["args"] = spec
        if run is None:
            said.missing("run", table)
        elif isinstance(run, str):
            command = said.attempt(template, run, r, "run")
            table["action"] = RunShell(command=command) if command else None
        elif isinstance(run, dict) and set(run) == {"pipeline"} and isinstance(run["pipeline"], str):
            pipeline = said.attempt(reference, "pipeline", run["pipeline"], r, "run.pipeline")
            table["action"] = RunPipeline(pipeline=pipeline) if pipeline else None
        elif isinstance(run, dict):
            said.say('run: a command runs a pipeline (run = { pipeline = "build" }) or a shell command (run = "...")')
        else:
            said.add(wrong_type("run", "a string or a table", run))
        if table.get("action") is None:
            table.pop("action", None)
            said.spoke("action")
        defaults = table.get("defaults")
        unknown = sorted(set(defaults) - set(spec.names())) if isinstance(defaults, dict) else []
        if unknown:
            said.say(f"defaults: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in args ({spec.usage() or 'none'})")
        return table


# -- otters' newer runbooks: crons, monitors, actions, safety -----------------------------------

HOOK_EVENTS = ("escalate", "retry", "abandon", "nudge", "restart", "clean", "skip", "requeue")
"""The events otters' newer runbooks write (`on_escalate`, ...), fired where the thing happens:
docs/runbooks.md says where. An action's name is an event too (`on_mark_flaky`)."""
ITEM_EVENTS = ("start", "complete", "fail")
"""What happens to a queue's item (`on_issue_start`): its handling starts, succeeds, fails."""
PIPELINE_EVENTS = ("start", "phase", "complete", "fail")


class ActionDef(_Entry):
    """`[action.NAME]`: a named command, run by a monitor's response ladder for an item (with the
    item's fields) or by a phase's `on_fail` (with the phase's values and `error`)."""
    KIND = "action"
    KEYS = ("run", "cooldown", "max_attempts", "max", "timeout", "description", "name")
    command: ShellTemplate
    """`run`: the command (exit 0: it worked)."""
    cooldown: Seconds | None = None
    """How long after it ran for an item before it runs for that item again (a ladder waits meanwhile)."""
    max_attempts: int | None = Field(default=None, ge=1)
    """How many times it runs for one item (or one phase, in one pipeline run); otters' older spelling is `max`."""
    timeout: Seconds | None = None
    """How long its command may run (default 5 minutes)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        for label in ("description", "name"):  # otters' labels, for people (the entry's name is its key's)
            if not isinstance(table.get(label, ""), str):
                said.add(wrong_type(label, "a string", table[label]))
        table = super().spelling(table, r, said)
        table.pop("description", None)
        run, most = table.pop("run", None), table.pop("max", None)
        if run is None:
            said.say('missing key \'run\': an action runs a command (run = "..."); otters\' oldest drafts named a built-in '
                     "operation (command = ...) instead, which Orchard has not")
            said.spoke("command")
        else:
            command = said.attempt(template, run, r, "run")
            if command is None:
                said.spoke("command")
            else:
                table["command"] = command
        if most is not None and "max_attempts" in table:
            said.say("max and max_attempts both bound the action; keep max_attempts (max is otters' older spelling)")
        elif most is not None:
            table["max_attempts"] = most
        return table


class LadderStep(_Model):
    """One rung of a monitor's `response` ladder, as written: `nudge` (an action), `restart:2` (an
    action, run at most twice for one item before the ladder moves on), `escalate` (a person is
    told: the runbook's on_escalate; then the item is left alone while it matches) or `abandon`
    (the item is given up: on_abandon). An `[action.escalate]` or `[action.abandon]` runs first."""
    kind: Literal["action", "escalate", "abandon"]
    name: str
    action: Ref | None = None
    times: int | None = None
    """`restart:2`: at most this many runs for one item; unwritten, the action's max_attempts (else once)."""


BUILTIN_STEPS = ("escalate", "abandon")


def _ladder(value: Any, r: Reading, key: str) -> list[LadderStep]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(step, str) for step in value):
        raise problem(f'{key}: must be a list of steps, e.g. ["nudge", "restart:2", "escalate"]')
    said, steps = Said(), []
    for written in value:
        name, colon, count = written.partition(":")
        if colon and not (count.isdigit() and int(count) >= 1):
            said.say(f"{key}: {written!r}: write NAME:N with N at least 1 (restart:2: restart, at most twice for one item)")
            continue
        times = int(count) if colon else None
        if name in BUILTIN_STEPS:
            own = ref(r.runbook, "action", name) if r.defines("action", name) else None
            if times is not None:
                said.say(f"{key}: {written!r}: {name} happens once for an item; drop :{count}")
            steps.append(LadderStep(kind=cast("Literal['escalate', 'abandon']", name), name=name, action=own))
            continue
        action = said.attempt(reference, "action", name, r, key)
        if action is not None:
            steps.append(LadderStep(kind="action", name=name.split(".")[-1], action=action, times=times))
    said.raise_if_any()
    return steps


MonitorFormat = Literal["auto", "json", "lines", "csv", "kv"]


class MonitorDef(_Entry):
    """`[monitor.NAME]`: run by a cron on each tick: its `source` prints items, its `condition`
    (exit 0: it matches) is checked for each, and each item that matches gets `run` (otters'
    janitor: a command for each) or the next step of its `response` ladder (otters' watchdog:
    nudge, then restart, then escalate, one step per tick while the item still matches)."""
    KIND = "monitor"
    KEYS = ("source", "format", "condition", "run", "response", "timeout", "description")
    source: ShellTemplate
    """A command printing the items (JSON, or one per line: `format`), at the repository's root."""
    format: Annotated[MonitorFormat, OneOf()] = "auto"
    """How `source` prints items: auto (JSON when it reads as JSON, else one item per line), json, lines, csv, kv."""
    condition: ShellTemplate | None = None
    """Checked for each item with its fields (`{session}`); unwritten, every item matches."""
    command: ShellTemplate | None = None
    """`run`: the command for each item that matches (exit 0: it was cleaned)."""
    response: Annotated[list[LadderStep], toml(_ladder)] = Field(default_factory=list)
    """The ladder for each item that matches: `["nudge", "restart:2", "escalate"]`."""
    timeout: Seconds | None = None
    """How long its source and each condition may run (default 2 minutes)."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        table = super().spelling(table, r, said)
        description = table.pop("description", "")
        if not isinstance(description, str):
            said.add(wrong_type("description", "a string", description))
        run = table.pop("run", None)
        if run is not None and "response" in table:
            said.say("a monitor handles what matches with run (a command) or response (a ladder of actions): one of them")
        elif run is None and "response" not in table:
            said.say('give run = "..." (a command for each item that matches) or response = ["nudge", "escalate"] (a ladder of actions)')
        if run is not None:
            command = said.attempt(template, run, r, "run")
            if command is not None:
                table["command"] = command
        return table


class CronEvents(_Table):
    """`[cron.NAME.events]`: commands run as the cron's monitors act (they win over the runbook's
    `[events]`): on_escalate, on_retry, on_abandon, on_nudge, on_restart, on_clean, on_skip, and
    on_<action> for any action."""
    hooks: dict[str, ShellTemplate] = Field(default_factory=dict)
    """By what happens: `escalate`, `clean`, an action's name."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        whats = (*HOOK_EVENTS, *sorted(r.defined.get("action", set()) - set(HOOK_EVENTS)))
        hooks: dict[str, Any] = {}
        for key, source in table.items():
            what = key.removeprefix("on_")
            if what not in whats or not key.startswith("on_"):
                said.say(f"{r.key()}: unknown event {key!r}{did_you_mean(key, [f'on_{w}' for w in whats])}; a cron's events: "
                         f"{', '.join(f'on_{w}' for w in whats)}")
                continue
            hooks[what] = said.attempt(template, source, r, r.key(key))
        return {"hooks": {k: v for k, v in hooks.items() if v is not None}}


def _a_second_at_least(every: float, info: ValidationInfo) -> float:
    if reading(info) is not None and every < 1:
        raise problem(f"interval: {format_duration(every)} is too short: at least a second (a Temporal Schedule's finest interval)")
    return every


class CronDef(_Entry):
    """`[cron.NAME]`: every `interval`, runs its `monitors` in order (and its own `run` command, if
    it has one), as a Temporal Schedule (`orchard runbook cron start NAME`): it survives restarts,
    shows under Schedules in the Temporal UI, and is paused, unpaused and triggered by
    `orchard runbook cron`. `enabled = false` makes it start paused."""
    KIND = "cron"
    KEYS = ("interval", "monitors", "run", "enabled", "events", "on_error", "description", "name", "watchers", "scanners")
    interval: Annotated[float, toml(seconds), AfterValidator(_a_second_at_least)]
    """How often it runs, in seconds: 30s, 5m, 1h (at least a second)."""
    monitors: list[MonitorRef] = Field(default_factory=list)
    """`[monitor.NAME]`s, run in this order."""
    command: ShellTemplate | None = None
    """`run`: a command the cron runs each time (otters' older crons), after its monitors."""
    enabled: bool = True
    """false: the schedule is made paused (`orchard runbook cron unpause NAME` starts it)."""
    events: CronEvents = Field(default_factory=CronEvents)
    """`[cron.NAME.events]`, which win over the runbook's `[events]`."""

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        for label in ("description", "name"):  # otters' labels, for people (the entry's name is its key's)
            if not isinstance(table.get(label, ""), str):
                said.add(wrong_type(label, "a string", table[label]))
        table = super().spelling(table, r, said)
        table.pop("description", None)
        for older, section in (("watchers", "watcher"), ("scanners", "scanner")):
            if older in table:
                table.pop(older)
                said.say(f"{older} = [...]: otters' older spelling; [{section}.NAME] became [monitor.NAME]: write monitors = [...]")
        on_error = table.pop("on_error", "log_and_continue")
        if on_error != "log_and_continue":
            said.say(f"on_error = {on_error!r}: a cron logs a monitor that fails and goes on to the next (log_and_continue), "
                     "the one behaviour Orchard has")
        run = table.pop("run", None)
        if run is not None:
            command = said.attempt(template, run, r, "run")
            if command is not None:
                table["command"] = command
        elif not table.get("monitors"):
            said.say('runs nothing: give monitors = ["NAME", ...] ([monitor.NAME] sections) or run = "..."')
        return table


class Safety(_Table):
    """`[safety]`: what the runbook never touches. `protected` names paths (relative to the
    repository's root) and refs (branches): a monitor never acts on an item that names one, a
    pipeline never publishes one, and a pipeline's command may not commit a change under one.
    `dry_run_first`: a cron's first run only says what it would do."""
    protected: list[str] = Field(default_factory=list)
    """`[".", ".git", ".oj", "main", "master"]`: `.` protects the root itself (not what is in it);
    any other path protects itself and what is in it; a ref (`main`, `release/*`) protects that branch."""
    dry_run_first: bool = False
    """The first run of each cron (once its schedule is made) runs sources and conditions only."""


class RunbookEvents(_Table):
    """`[events]`: commands for everything the runbook runs (a pipeline's or cron's own events win):
    on_start, on_phase (otters' on_phase_change), on_complete, on_fail for every pipeline, and
    on_<pipeline>_<start|phase|complete|fail> for one; otters' newer events (on_escalate,
    on_retry, on_abandon, on_nudge, on_restart, on_clean, on_skip, on_requeue, on_<action>), and
    each of them for one pipeline, worker, queue (or its item: on_issue_requeue for queue issues)
    or cron: on_<name>_<event>."""
    on_start: ShellTemplate | None = None
    on_phase: ShellTemplate | None = None
    on_complete: ShellTemplate | None = None
    on_fail: ShellTemplate | None = None
    by_pipeline: dict[str, PipelineEvents] = Field(default_factory=dict)
    """otters' `on_<pipeline>_complete` spelling, by pipeline name."""
    hooks: dict[str, ShellTemplate] = Field(default_factory=dict)
    """otters' newer events by what happens (`escalate`, `clean`, an action's name)."""
    by_owner: dict[str, dict[str, ShellTemplate]] = Field(default_factory=dict)
    """`on_<name>_<event>` but a pipeline's start, phase, complete and fail: by name (a pipeline,
    worker, queue, a queue's item, cron), then event."""

    @model_serializer(mode="wrap")
    def _new_left_out(self, handler: SerializerFunctionWrapHandler):  # no return type: pydantic then keeps the fields in the schema
        """What runbooks without otters' newer events carried before those came stays as it was."""
        return _without_empty(handler(self), ("hooks", "by_owner"))

    @classmethod
    def spelling(cls, table: dict[str, Any], r: Reading, said: Said) -> dict[str, Any]:
        pipelines = r.defined.get("pipeline", set())
        actions = r.defined.get("action", set())
        owners = event_owners(r.defined)
        whats = [*PIPELINE_EVENTS, *HOOK_EVENTS, *sorted(actions - set(HOOK_EVENTS))]
        own_whats = sorted({*whats, *ITEM_EVENTS})
        common: dict[str, Any] = {}
        hooks: dict[str, Any] = {}
        by_pipeline: dict[str, dict[str, Any]] = {}
        by_owner: dict[str, dict[str, Any]] = {}
        for key, source in table.items():
            what = "phase" if key == "on_phase_change" else key.removeprefix("on_")
            written = said.attempt(template, source, r, key)
            owner, tail = _owned(what, owners, own_whats) if key.startswith("on_") else (None, "")
            if key.startswith("on_") and what in PIPELINE_EVENTS:
                common[f"on_{what}"] = written
            elif key.startswith("on_") and what in whats:
                hooks[what] = written
            elif owner in pipelines and tail in PIPELINE_EVENTS:
                by_pipeline.setdefault(owner, {})[f"on_{tail}"] = written
            elif owner is not None:
                by_owner.setdefault(owner, {})[tail] = written
            else:
                accepted = [f"on_{w}" for w in whats] + [f"on_{o}_{w}" for o in sorted(owners) for w in own_whats]
                names = f" ({', '.join(sorted(owners))})" if owners else ""
                said.say(f"unknown event {key!r}{did_you_mean(key, accepted)}; events: {', '.join(f'on_{w}' for w in whats)}, "
                         f"and on_<name>_<event> for a pipeline, worker, queue, a queue's item or cron{names}")
        return {**common, "by_pipeline": {p: PipelineEvents(**e) for p, e in by_pipeline.items()}, "hooks": hooks, "by_owner": by_owner}

    def command(self, what: str, *owners: str) -> Template | None:
        """The command for `what` (an otters' newer event, an item's event): the first owner's own
        (`on_issue_requeue`), else every one's (`on_requeue`)."""
        for owner in owners:
            found = self.by_owner.get(owner, {}).get(what)
            if found is not None:
                return found
        return self.hooks.get(what)


def event_owners(defined: dict[str, set[str]]) -> set[str]:
    """What `on_<name>_<event>` may name: a pipeline, worker, queue, a queue's item (the queue's
    name without its plural s: issues, issue) or cron."""
    queues = defined.get("queue", set())
    singular = {q[:-1] for q in queues if len(q) > 1 and q.endswith("s")}
    return {*defined.get("pipeline", set()), *defined.get("worker", set()), *queues, *singular, *defined.get("cron", set())}


def _owned(what: str, owners: set[str], whats: list[str]) -> tuple[str | None, str]:
    """`issue_requeue` -> (`issue`, `requeue`): the longest owner that leaves an event."""
    for owner in sorted(owners, key=len, reverse=True):
        if what.startswith(f"{owner}_") and what[len(owner) + 1:] in whats:
            return owner, what[len(owner) + 1:]
    return None, ""


def _without_empty(data: Any, names: tuple[str, ...]) -> Any:
    """A model's serialized fields without `names` when they are empty: fields added since
    recorded histories and the golden cases were written stay out of payloads that do not use them."""
    if isinstance(data, dict):
        for name in names:
            if name in data and data[name] in ({}, [], None):
                del data[name]
    return data


ENTRIES: dict[str, type[_Entry]] = {
    "command": CommandDef, "worker": ConsumerDef, "queue": QueueDef, "pipeline": PipelineDef, "task": TaskDef, "agent": TaskDef,
    "guard": GuardDef, "strategy": ChainDef, "lock": LockDef, "semaphore": SemaphoreDef,
    "cron": CronDef, "monitor": MonitorDef, "action": ActionDef,
}
"""The sections of named entries (`[pipeline.build]`), with the model of one entry; `agent` is `task`."""
SECTIONS = [*ENTRIES, "config", "functions", "events", "safety"]
OLDER_SECTIONS = {
    "meta": "[meta] is otters' oldest draft: a runbook is named after its file (describe it in a comment); drop [meta]",
    "scanner": "[scanner.NAME] is otters' oldest draft: write [monitor.NAME] (source, condition, run) and list it in a [cron.NAME]'s monitors",
    "watcher": "[watcher.NAME] is otters' oldest draft: write [monitor.NAME] (source, condition, response = [...]) with an [action.NAME] "
               "for each response, and list it in a [cron.NAME]'s monitors",
}
"""Sections of otters' oldest drafts, each with the newer section that replaced it."""


class Runbook(_Model):
    """One file: its entries by section, its `[config]` (what templates read as `config`), its
    `[functions]` (shell commands a queue's filter may call) and `[events]`."""
    name: str
    path: str
    commands: dict[str, CommandDef] = Field(default_factory=dict)
    workers: dict[str, ConsumerDef] = Field(default_factory=dict)
    """The queue consumers, by name (`[worker.NAME]`)."""
    queues: dict[str, QueueDef] = Field(default_factory=dict)
    pipelines: dict[str, PipelineDef] = Field(default_factory=dict)
    tasks: dict[str, TaskDef] = Field(default_factory=dict)
    guards: dict[str, GuardDef] = Field(default_factory=dict)
    strategies: dict[str, ChainDef] = Field(default_factory=dict)
    """The strategy chains, by name (`[strategy.NAME]`)."""
    locks: dict[str, LockDef] = Field(default_factory=dict)
    semaphores: dict[str, SemaphoreDef] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    functions: dict[str, ShellTemplate] = Field(default_factory=dict)
    events: RunbookEvents = Field(default_factory=RunbookEvents)
    crons: dict[str, CronDef] = Field(default_factory=dict)
    monitors: dict[str, MonitorDef] = Field(default_factory=dict)
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    safety: Safety = Field(default_factory=Safety)

    @model_serializer(mode="wrap")
    def _new_left_out(self, handler: SerializerFunctionWrapHandler):  # no return type: pydantic then keeps the fields in the schema
        """A runbook without crons, monitors, actions or [safety] carries what it carried before they came."""
        data = _without_empty(handler(self), ("crons", "monitors", "actions"))
        if isinstance(data, dict) and data.get("safety") == Safety().model_dump():
            del data["safety"]
        return data

    def table(self, kind: Kind) -> dict[str, Any]:
        return getattr(self, _TABLES[kind])


_TABLES: dict[str, str] = {
    "command": "commands", "worker": "workers", "queue": "queues", "pipeline": "pipelines", "task": "tasks",
    "guard": "guards", "strategy": "strategies", "lock": "locks", "semaphore": "semaphores",
    "cron": "crons", "monitor": "monitors", "action": "actions",
}


class RunbookSet(_Model):
    """Runbooks by name; what a pipeline run carries is the part it can reach (`registry.bundle`)."""
    runbooks: dict[str, Runbook]

    def get(self, reference: Ref) -> Any:
        runbook, kind, name = split_ref(reference)
        return self.runbooks[runbook].table(kind)[name]

    @classmethod
    def carried(cls, runbooks: dict[str, Any], reference: Ref, what: str) -> tuple[RunbookSet, Any]:
        """The runbooks a strategy's config carries, and the `what` (pipeline, worker, cron) `reference`
        names in them; ValueError in one line for a config that does not hold them."""
        try:
            book = cls.model_validate(runbooks)
        except ValidationError as e:
            where, message = first_error(e)
            raise ValueError(f"runbooks: {where}: {message}") from None
        try:
            return book, book.get(reference)
        except (KeyError, ValueError):
            raise ValueError(f"no {what} {reference!r} in the runbooks given") from None


def describe_edge(target: Any) -> str:
    """Where a `next`, `on_fail` or `on_timeout` leads, in words: `verify`, `strategy merge`, `(end)`."""
    if isinstance(target, GotoPhase):
        return target.phase
    if isinstance(target, UseChain):
        return f"strategy {target.strategy}"
    if isinstance(target, UseAction):
        return f"action {target.action}"
    if isinstance(target, RetryPhase):
        return f"retry (max {target.retry.max}, every {format_duration(target.retry.interval) if target.retry.interval else '0s'})"
    if isinstance(target, TimeoutCommand):
        return f"$ {target.command.source} (then failed)"
    if isinstance(target, KeepWaiting):
        return "wait"
    return {"done": "(end)", "failed": "(failed)"}.get(target.kind, target.kind)
