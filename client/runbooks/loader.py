"""Raw tables (parser.py) become runtime types (workflows/runbooks/model.py).

What one entry can say about itself is checked here: durations, the choices of each field, the
shape of `run`, `next` and `on_fail`, template and filter syntax, the `args` grammar. References
are qualified (`planning` -> `build.task.planning`) but not looked up: that, the phase graph and
the variables templates read are the validator's, which sees every runbook.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from activities.agents import PLUGINS
from client.runbooks.parser import RawRunbook
from client.runbooks.problems import did_you_mean
from client.runbooks.raw import RawAttempt, RawPhase
from workflows.runbooks import model as m
from workflows.runbooks.arguments import ArgSpec, parse_arg_spec
from workflows.runbooks.events import check_pattern
from workflows.runbooks.expressions import check_filter, parse_order
from workflows.runbooks.inputs import FORMATS
from workflows.runbooks.templates import RESERVED, inspect
from workflows.sdk.durations import parse_duration

KIND_WORDS = {"command", "worker", "queue", "pipeline", "task", "agent", "guard", "strategy", "lock", "semaphore"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRANCH = re.compile(r"(?!/)(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z0-9._/-]+")
RUN_TABLE_KEYS = {"agent", "task", "strategy", "pipeline", "orchard"}


class _Loader:
    def __init__(self, raw: RawRunbook):
        self.raw = raw
        self.name = raw.name

    # -- helpers ----------------------------------------------------------------------------

    def problem(self, place: str, message: str) -> None:
        self.raw.problem(place, message)

    def template(self, source: str | None, place: str, key: str, syntax: str = "inline") -> m.Template | None:
        if source is None:
            return None
        template = m.Template(source=source, syntax=syntax, runbook=self.name, origin=f"{self.raw.file}: {place}: {key}")  # type: ignore[arg-type]
        try:
            inspect(template)
        except ValueError as e:
            self.problem(place, f"{key}: {e}")
        return template

    def templates(self, sources: dict[str, str], place: str, key: str) -> dict[str, m.Template]:
        return {name: t for name, source in sources.items() if (t := self.template(source, place, f"{key}.{name}"))}

    def seconds(self, value: Any, place: str, key: str) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as e:
            self.problem(place, f"{key}: {e}")
            return None

    def choice(self, value: str, choices: list[str], place: str, key: str, default: str) -> str:
        if value in choices:
            return value
        self.problem(place, f"{key} = {value!r}{did_you_mean(value, choices)}: one of {', '.join(choices)}")
        return default

    def choices(self, value: str | list[str], choices: list[str], place: str, key: str) -> list[str]:
        return [self.choice(v, choices, place, key, choices[0]) for v in ([value] if isinstance(value, str) else value)]

    def reference(self, text: str, kind: str, place: str, key: str) -> m.Ref:
        """`name`, `kind.name` or `runbook.kind.name` -> `runbook.kind.name` (tasks: agent is the same kind)."""
        parts = text.split(".")
        word = "task" if kind == "task" else kind
        if len(parts) == 1:
            return m.ref(self.name, kind, text)  # type: ignore[arg-type]
        if len(parts) == 2 and parts[0] in KIND_WORDS:
            found = "task" if parts[0] == "agent" else parts[0]
            if found != kind:
                self.problem(place, f"{key} = {text!r} names a {parts[0]}; {key} takes a {word}")
            return m.ref(self.name, kind, parts[1])  # type: ignore[arg-type]
        if len(parts) == 3 and parts[1] in KIND_WORDS:
            found = "task" if parts[1] == "agent" else parts[1]
            if found != kind:
                self.problem(place, f"{key} = {text!r} names a {parts[1]}; {key} takes a {word}")
            return m.ref(parts[0], kind, parts[2])  # type: ignore[arg-type]
        self.problem(place, f"{key} = {text!r}: write NAME, {word}.NAME or RUNBOOK.{word}.NAME (e.g. common.{word}.{parts[-1]})")
        return m.ref(self.name, kind, text)  # type: ignore[arg-type]

    def patterns(self, patterns: list[str], place: str, key: str) -> list[m.Template]:
        kept = []
        for pattern in patterns:
            try:
                check_pattern(pattern)
            except ValueError as e:
                self.problem(place, f"{key}: {e}")
                continue
            if (t := self.template(pattern, place, key)) is not None:
                kept.append(t)
        return kept

    def retry(self, value: Any, place: str, key: str) -> m.Retry | None:
        if not isinstance(value, dict) or set(value) - {"max", "interval"} or not isinstance(value.get("max"), int) or value["max"] < 1:
            self.problem(place, f"{key}: write {{ max = 3, interval = \"10s\" }} (max at least 1)")
            return None
        interval = 0.0 if value.get("interval", 0) in (0, "0") else self.seconds(value["interval"], place, f"{key}.interval")
        return m.Retry(max=value["max"], interval=interval or 0.0)

    def entries(self, kind: str) -> dict[str, Any]:
        return self.raw.entries[kind]

    # -- the runbook ------------------------------------------------------------------------

    def load(self) -> m.Runbook:
        tables: dict[str, Callable[[str, Any], Any]] = {
            "command": self.command, "worker": self.worker, "queue": self.queue, "pipeline": self.pipeline,
            "task": self.task, "guard": self.guard, "strategy": self.strategy, "lock": self.lock, "semaphore": self.semaphore,
        }
        loaded: dict[str, dict[str, Any]] = {}
        for kind, build in tables.items():
            loaded[m._TABLES[kind]] = {name: d for name, raw in self.entries(kind).items() if (d := build(name, raw)) is not None}
        functions = {name: t for name, source in self.raw.functions.items() if (t := self.template(source, "functions", name))}
        return m.Runbook(name=self.name, path=str(self.raw.path), config=self.raw.config, functions=functions, events=self.events(), **loaded)

    def command(self, name: str, raw: Any) -> m.CommandDef | None:
        place = f"command.{name}"
        try:
            args = parse_arg_spec(raw.args, raw.aliases)
        except ValueError as e:
            self.problem(place, f"args: {e}")
            args = ArgSpec()
        action: m.RunPipeline | m.RunShell | None = None
        if isinstance(raw.run, str):
            if (t := self.template(raw.run, place, "run")) is not None:
                action = m.RunShell(command=t)
        elif set(raw.run) == {"pipeline"} and isinstance(raw.run["pipeline"], str):
            action = m.RunPipeline(pipeline=self.reference(raw.run["pipeline"], "pipeline", place, "run.pipeline"))
        else:
            self.problem(place, 'run: a command runs a pipeline (run = { pipeline = "build" }) or a shell command (run = "...")')
        unknown = sorted(set(raw.defaults) - set(args.names()))
        if unknown:
            self.problem(place, f"defaults: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in args ({args.usage() or 'none'})")
        if action is None:
            return None
        return m.CommandDef(ref=m.ref(self.name, "command", name), name=name, args=args, defaults=raw.defaults, action=action)

    def worker(self, name: str, raw: Any) -> m.WorkerDef | None:
        place = f"worker.{name}"
        handler = self.handler(raw.handler, place)
        idle_wait = 30.0
        if raw.poll is not None and raw.idle_action is not None:
            self.problem(place, f'poll and idle_action both say how often the queue is read: keep poll = {raw.poll!r} (idle_action = "wait:…" is otters\' spelling of it)')
        elif raw.poll is not None:
            idle_wait = self.seconds(raw.poll, place, "poll") or idle_wait
        elif raw.idle_action is not None:
            match = re.fullmatch(r"wait(?::(.+))?", raw.idle_action)
            if match is None:
                self.problem(place, f'idle_action = {raw.idle_action!r}: write "wait" or "wait:30s"')
            elif match[1]:
                idle_wait = self.seconds(match[1], place, "idle_action") or idle_wait
        return m.WorkerDef(
            ref=m.ref(self.name, "worker", name), name=name, queue=self.reference(raw.queue, "queue", place, "queue"),
            handler=handler, concurrency=raw.concurrency, idle_wait=idle_wait, wake_on=self.patterns(raw.wake_on, place, "wake_on"),
            on_unhealthy=self.choice(raw.on_unhealthy or "restart", ["restart", "escalate"], place, "on_unhealthy", "restart"),  # type: ignore[arg-type]
        )

    def handler(self, text: str, place: str) -> m.Ref:
        parts = text.split(".")
        kind = parts[-2] if len(parts) >= 2 else None
        if kind in ("pipeline", "task", "agent"):
            return self.reference(text, "task" if kind == "agent" else kind, place, "handler")
        if len(parts) == 1:
            local = [k for k in ("pipeline", "task") if self.raw.defines(k, text)]
            if len(local) == 1:
                return m.ref(self.name, local[0], text)  # type: ignore[arg-type]
        self.problem(place, f"handler = {text!r}: write pipeline.NAME or task.NAME (or RUNBOOK.pipeline.NAME)")
        return m.ref(self.name, "pipeline", parts[-1])

    def queue(self, name: str, raw: Any) -> m.QueueDef | None:
        place = f"queue.{name}"
        if raw.filter is not None:
            try:
                check_filter(raw.filter, set(self.raw.functions))
            except ValueError as e:
                self.problem(place, str(e))
        order: list[m.SortKey] = []
        if raw.order:
            try:
                order = parse_order(raw.order)
            except ValueError as e:
                self.problem(place, str(e))
        return m.QueueDef(
            ref=m.ref(self.name, "queue", name), name=name, source=self.template(raw.source, place, "source"),
            format=self.choice(raw.format, list(FORMATS), place, "format", "json"), filter=raw.filter, order=order,  # type: ignore[arg-type]
            visibility_timeout=self.seconds(raw.visibility_timeout, place, "visibility_timeout"), max_retries=raw.max_retries,
            on_exhaust=self.choice(raw.on_exhaust, ["dead", "escalate", "wait", "drop"], place, "on_exhaust", "dead"),  # type: ignore[arg-type]
            dead=m.DeadLetters(retention=self.seconds(raw.dead.retention, place, "dead.retention"), on_add=self.template(raw.dead.on_add, place, "dead.on_add")),
        )

    def pipeline(self, name: str, raw: Any) -> m.PipelineDef | None:
        place = f"pipeline.{name}"
        for input_name in raw.inputs:
            if not _IDENTIFIER.fullmatch(input_name):
                self.problem(place, f"inputs: {input_name!r} is not a name (letters, digits and _)")
        twice = sorted({i for i in raw.inputs if raw.inputs.count(i) > 1})
        if twice:
            self.problem(place, f"inputs: {', '.join(twice)} listed twice")
        for own in [*raw.inputs, *raw.defaults]:
            if own in RESERVED:
                self.problem(place, f"{'inputs' if own in raw.inputs else 'defaults'}: {own!r} is Orchard's ({RESERVED[own]}); give yours another name")
        for ref_name in raw.publish:
            if not _BRANCH.fullmatch(ref_name) or ref_name.startswith(("refs/", "orchard/")):
                self.problem(place, f"publish: {ref_name!r} is not a branch of your repository (e.g. main, release/1.2)")
        raw_phases = self.raw.phases.get(name, [])
        if not raw_phases:
            self.problem(place, "has no phases; add [[" + place + ".phase]] tables")
        if len(raw_phases) > m.MAX_PHASES:  # said before any is loaded: checking thousands would take long for nothing
            self.problem(place, f"has {len(raw_phases):,} phases; a pipeline holds at most {m.MAX_PHASES:,} (its run keeps every phase in one "
                                "Temporal history): split it into pipelines that its phases run (run = { pipeline = \"NAME\" })")
            return None
        names = [p.name for p in raw_phases if p is not None]
        counted = Counter(names)
        for dup in sorted(n for n, times in counted.items() if times > 1):
            self.problem(place, f"two phases are named {dup!r}")
        phase_names = set(names)
        phases = [self.phase(name, p, i, raw_phases, phase_names) for i, p in enumerate(raw_phases) if p is not None]
        defaults = {key: t for key, source in raw.defaults.items() if (t := self.template(source, place, f"defaults.{key}"))}
        events = m.PipelineEvents(**{k: self.template(v, place, f"events.{k}") for k, v in raw.events.model_dump().items()})
        if not phases:
            return None
        if len(phases) != len(raw_phases):
            self.raw.partial.add(name)
        return m.PipelineDef(
            ref=m.ref(self.name, "pipeline", name), name=name, inputs=raw.inputs, defaults=defaults, phases=phases,
            events=events, publish=raw.publish, max_visits=raw.max_visits,
        )

    def phase(self, pipeline: str, raw: RawPhase, index: int, siblings: list[RawPhase | None], phase_names: set[str]) -> m.PhaseDef:
        place = f'pipeline.{pipeline}.phase[{index}] "{raw.name}"'
        action = self.action(raw, place)
        if not isinstance(action, m.RunShell) and (raw.cwd is not None or raw.env):
            self.problem(place, "cwd and env belong to a phase that runs a command (run = \"...\"); a task has its own")
        following = siblings[index + 1] if index + 1 < len(siblings) else None
        return m.PhaseDef(
            name=raw.name, action=action,
            pre=[self.reference(g, "guard", place, "pre") for g in raw.pre],
            post=[self.reference(g, "guard", place, "post") for g in raw.post],
            lock=self.reference(raw.lock, "lock", place, "lock") if raw.lock else None,
            semaphore=self.reference(raw.semaphore, "semaphore", place, "semaphore") if raw.semaphore else None,
            next=self.next(raw.next, phase_names, following),
            on_fail=self.on_fail(raw.on_fail, phase_names, place),
            timeout=self.seconds(raw.timeout, place, "timeout"),
        )

    def action(self, raw: RawPhase, place: str) -> m.PhaseAction:
        given = {k: v for k, v in (("run", raw.run), ("task", raw.task), ("agent", raw.agent), ("strategy", raw.strategy), ("pipeline", raw.pipeline)) if v is not None}
        if len(given) > 1:
            self.problem(place, f"a phase does one thing; it has {' and '.join(given)} (write one of run, task/agent, strategy, pipeline)")
        if not given:
            return m.NoAction()
        key, value = next(iter(given.items()))
        if key == "run" and isinstance(value, str):
            command = self.template(value, place, "run")
            return m.RunShell(command=command, cwd=self.template(raw.cwd, place, "cwd"), env=self.templates(raw.env, place, "env")) if command else m.NoAction()
        if key == "run":
            return self.run_table(value, place, phase=True)
        return self.run_table({key: value}, place, phase=True)

    def run_table(self, table: dict[str, Any], place: str, phase: bool) -> Any:
        """`{ agent = X }`, `{ task = X }`, `{ strategy = X }`, `{ pipeline = X, inputs = {...} }`,
        `{ orchard = "best-of-n", agent = X, n = 3 }` (the last three in phases only)."""
        if phase and "orchard" in table:
            return self.orchard(table, place)
        allowed = RUN_TABLE_KEYS if phase else {"agent", "task"}
        kinds = [k for k in table if k in allowed]
        if len(kinds) != 1:
            forms = "{ agent = NAME }, { strategy = NAME }, { pipeline = NAME } or { orchard = STRATEGY, ... }" if phase else "{ agent = NAME }"
            self.problem(place, f"run: write {forms}")
            return m.NoAction() if phase else None
        kind = kinds[0]
        value = table[kind]
        extra = sorted(set(table) - {kind} - ({"inputs"} if kind == "pipeline" else set()))
        if extra or not isinstance(value, str):
            self.problem(place, f"run = {{ {kind} = ... }}: {kind} is a name" + (f"; unknown keys {', '.join(extra)}" if extra else ""))
            return m.NoAction() if phase else None
        if kind in ("agent", "task"):
            return m.RunTask(task=self.reference(value, "task", place, f"run.{kind}"))
        if kind == "strategy":
            return m.RunStrategyChain(strategy=self.reference(value, "strategy", place, "run.strategy"))
        inputs = table.get("inputs", {})
        if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
            self.problem(place, "run.inputs: a table of templates, e.g. inputs = { name = \"{name}-docs\" }")
            inputs = {}
        return m.RunPipeline(pipeline=self.reference(value, "pipeline", place, "run.pipeline"), inputs=self.templates(inputs, place, "run.inputs"))

    def orchard(self, table: dict[str, Any], place: str) -> m.PhaseAction:
        strategy = table.get("orchard")
        if not isinstance(strategy, str):
            self.problem(place, 'run: write { orchard = "best-of-n", agent = NAME, n = 3 } (orchard names an Orchard strategy)')
            return m.NoAction()
        agent = table.get("agent", table.get("task"))
        prompt = table.get("prompt")
        if (agent is None) == (prompt is None) or not isinstance(agent or prompt, str):
            self.problem(place, "run = { orchard = ... }: give the instances' task as agent = NAME or prompt = \"...\" (one of them)")
        params = {k: v for k, v in table.items() if k not in ("orchard", "agent", "task", "prompt")}
        return m.RunOrchard(
            strategy=strategy, params=params,
            task=self.reference(agent, "task", place, "run.agent") if isinstance(agent, str) else None,
            prompt=self.template(prompt, place, "run.prompt") if isinstance(prompt, str) else None,
        )

    def next(self, text: str | None, phases: set[str], following: RawPhase | None) -> m.Next:
        """No `next`: the phase written after this one, or done after the last. `done` and
        `failed` end the pipeline, unless a phase has that name (otters' build has a phase "done")."""
        if text is None:
            return m.GotoPhase(phase=following.name) if following is not None else m.Done()
        if text in phases:
            return m.GotoPhase(phase=text)
        if text == "done":
            return m.Done()
        if text in ("failed", "fail"):
            return m.Failed()
        return m.GotoPhase(phase=text)

    def on_fail(self, value: str | dict[str, Any] | None, phases: set[str], place: str) -> m.FailAction:
        """A phase (first), `escalate`, `failed`, a strategy (`merge` when no phase has the name,
        or `strategy.merge`), or `{ retry = { max = 3, interval = "10s" } }`."""
        if value is None:
            return m.Failed()
        if isinstance(value, dict):
            if set(value) == {"retry"}:
                retry = self.retry(value["retry"], place, "on_fail.retry")
                return m.RetryPhase(retry=retry) if retry else m.Failed()
            self.problem(place, 'on_fail: write a phase, "escalate", "failed", a strategy or { retry = { max = 3, interval = "10s" } }')
            return m.Failed()
        if value in phases:
            return m.GotoPhase(phase=value)
        if value == "escalate":
            return m.Escalate()
        if value in ("failed", "fail"):
            return m.Failed()
        if "." in value or self.raw.defines("strategy", value):
            return m.UseStrategy(strategy=self.reference(value, "strategy", place, "on_fail"))
        return m.GotoPhase(phase=value)

    def task(self, name: str, raw: Any) -> m.TaskDef | None:
        place = f"task.{name}"
        if (raw.prompt is None) == (raw.prompt_file is None):
            self.problem(place, "give the agent's prompt as prompt = \"...\" or prompt_file = \"prompts/x.md\" (one of them)")
            return None
        if raw.run is not None and raw.command is not None:
            self.problem(place, "run and command both give the agent's command line; keep run (command is otters' older spelling)")
        prompt = self.template(raw.prompt, place, "prompt") if raw.prompt is not None else self.prompt_file(raw.prompt_file, place)
        if raw.plugin is not None and raw.plugin not in PLUGINS:
            self.problem(place, f"plugin = {raw.plugin!r}{did_you_mean(raw.plugin, PLUGINS)}: one of {', '.join(sorted(PLUGINS))}")
        elif raw.plugin not in (None, "command") and (raw.run or raw.command):
            self.problem(place, f"run is the command plugin's agent command line; plugin {raw.plugin} runs its own CLI (drop run, or plugin)")
        if prompt is None:
            return None
        return m.TaskDef(
            ref=m.ref(self.name, "task", name), name=name, prompt=prompt, command=self.template(raw.run or raw.command, place, "run"),
            plugin=raw.plugin, model=raw.model, max_turns=raw.max_turns, env=self.templates(raw.env, place, "env"),
            cwd=self.template(raw.cwd, place, "cwd"), timeout=self.seconds(raw.timeout, place, "timeout"),
            idle_timeout=self.seconds(raw.idle_timeout, place, "idle_timeout"),
            heartbeat=self.choice(raw.heartbeat, ["output", "none"], place, "heartbeat", "output"),  # type: ignore[arg-type]
            on_stuck=self.choices(raw.on_stuck, ["nudge", "restart", "escalate"], place, "on_stuck"),  # type: ignore[arg-type]
            on_timeout=self.choice(raw.on_timeout, ["fail", "escalate", "requeue"], place, "on_timeout", "fail"),  # type: ignore[arg-type]
            checkpoint=self.template(raw.checkpoint, place, "checkpoint"),
            checkpoint_interval=self.seconds(raw.checkpoint_interval, place, "checkpoint_interval"),
        )

    def prompt_file(self, relative: str, place: str) -> m.Template | None:
        """A template file, relative to the runbook's folder and inside it (links followed: a link
        out of it is refused too); its variables are `{{ name }}`."""
        folder = self.raw.path.parent.resolve()
        path = self.raw.path.parent / relative
        if not path.resolve().is_relative_to(folder):
            self.problem(place, f"prompt_file {relative!r} is outside the runbooks' folder {folder}: a prompt file lies in it (e.g. prompts/plan.md)")
            return None
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
            self.problem(place, f"prompt_file {relative!r}: cannot read {path}: {reason}")
            return None
        template = m.Template(source=source, syntax="file", runbook=self.name, origin=str(path))
        try:
            inspect(template)
        except ValueError as e:
            self.problem(place, f"prompt_file {relative!r}: {e}")
        return template

    def guard(self, name: str, raw: Any) -> m.GuardDef | None:
        place = f"guard.{name}"
        condition = self.template(raw.condition, place, "condition")
        on_timeout: m.TimeoutAction = m.Escalate() if raw.on_timeout == "escalate" else m.Failed() if raw.on_timeout in ("fail", "failed") else m.GotoPhase(phase=raw.on_timeout)
        if isinstance(on_timeout, m.GotoPhase) and not _IDENTIFIER.fullmatch(raw.on_timeout.replace("-", "_")):
            self.problem(place, f"on_timeout = {raw.on_timeout!r}: write escalate, failed or a phase name")
        if condition is None:
            return None
        return m.GuardDef(
            ref=m.ref(self.name, "guard", name), name=name, condition=condition, timeout=self.seconds(raw.timeout, place, "timeout"),
            on_timeout=on_timeout, retry=self.retry(raw.retry.model_dump(), place, "retry") if raw.retry else None,
            wake_on=self.patterns(raw.wake_on, place, "wake_on"),
        )

    def strategy(self, name: str, raw: Any) -> m.StrategyDef | None:
        place = f"strategy.{name}"
        raw_attempts = self.raw.attempts.get(name, [])
        if not raw_attempts:
            self.problem(place, f"has no attempts; add [[{place}.attempt]] tables")
        names = [a.name for a in raw_attempts if a is not None]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            self.problem(place, f"two attempts are named {dup!r}")
        attempts = [a for i, r in enumerate(raw_attempts) if r is not None and (a := self.attempt(name, r, i)) is not None]
        on_exhaust = self.exhaust(raw.on_exhaust, place)
        checkpoint = self.template(raw.checkpoint, place, "checkpoint")
        if len(attempts) != len(raw_attempts) or not attempts:
            return None
        return m.StrategyDef(ref=m.ref(self.name, "strategy", name), name=name, checkpoint=checkpoint, attempts=attempts, on_exhaust=on_exhaust)

    def attempt(self, strategy: str, raw: RawAttempt, index: int) -> m.AttemptDef | None:
        place = f'strategy.{strategy}.attempt[{index}] "{raw.name}"'
        if (raw.run is None) == (raw.task is None):
            self.problem(place, 'an attempt runs a command (run = "...") or an agent (run = { agent = NAME }, or task = NAME): one of them')
            return None
        action: Any
        if raw.task is not None:
            action = m.RunTask(task=self.reference(raw.task, "task", place, "task"))
        elif isinstance(raw.run, str):
            command = self.template(raw.run, place, "run")
            action = m.RunShell(command=command) if command else None
        else:
            action = self.run_table(raw.run, place, phase=False)
        if action is None:
            return None
        return m.AttemptDef(name=raw.name, action=action, timeout=self.seconds(raw.timeout, place, "timeout"), rollback=self.template(raw.rollback, place, "rollback"))

    def exhaust(self, value: str | dict[str, Any], place: str) -> m.ExhaustAction:
        if value in ("escalate", "fail"):
            return m.ExhaustAction(kind=value)  # type: ignore[arg-type]
        retry = value.get("retry") if isinstance(value, dict) and set(value) == {"retry"} else None
        if not isinstance(retry, dict) or "after" not in retry or set(retry) - {"after", "max"} or not isinstance(retry.get("max", 1), int) or retry.get("max", 1) < 1:
            self.problem(place, f'on_exhaust = {value!r}: write "escalate", "fail" or {{ retry = {{ after = "10m", max = 1 }} }}')
            return m.ExhaustAction()
        return m.ExhaustAction(kind="retry", after=self.seconds(retry["after"], place, "on_exhaust.retry.after"), max=retry.get("max", 1))

    def lock(self, name: str, raw: Any) -> m.LockDef:
        place = f"lock.{name}"
        return m.LockDef(
            ref=m.ref(self.name, "lock", name), name=name, timeout=self.seconds(raw.timeout, place, "timeout"),
            heartbeat=self.seconds(raw.heartbeat, place, "heartbeat"),
            on_stale=self.choices(raw.on_stale, ["release", "rollback", "cleanup", "escalate"], place, "on_stale"),  # type: ignore[arg-type]
        )

    def semaphore(self, name: str, raw: Any) -> m.SemaphoreDef:
        place = f"semaphore.{name}"
        return m.SemaphoreDef(
            ref=m.ref(self.name, "semaphore", name), name=name, max=raw.max, slot_timeout=self.seconds(raw.slot_timeout, place, "slot_timeout"),
            slot_heartbeat=self.seconds(raw.slot_heartbeat, place, "slot_heartbeat"),
            on_orphan=self.choice(raw.on_orphan, ["reclaim", "escalate"], place, "on_orphan", "reclaim"),  # type: ignore[arg-type]
            on_orphan_work=self.choice(raw.on_orphan_work, ["requeue", "fail"], place, "on_orphan_work", "fail"),  # type: ignore[arg-type]
        )

    def events(self) -> m.RunbookEvents:
        """`[events]`: on_start, on_phase (otters' on_phase_change), on_complete, on_fail, and
        on_<pipeline>_<start|phase|complete|fail> for one pipeline."""
        common: dict[str, m.Template | None] = {}
        by_pipeline: dict[str, dict[str, m.Template | None]] = {}
        whats = ("start", "phase", "complete", "fail")
        pipelines = set(self.entries("pipeline")) | {n for k, n in self.raw.broken if k == "pipeline"}
        accepted = [f"on_{w}" for w in whats] + [f"on_{p}_{w}" for p in sorted(pipelines) for w in whats]
        for key, source in self.raw.events.items():
            what = "phase" if key == "on_phase_change" else key.removeprefix("on_")
            pipeline, _, tail = what.rpartition("_")
            template = self.template(source, "events", key)
            if what in whats:
                common[f"on_{what}"] = template
            elif pipeline in pipelines and tail in whats:
                by_pipeline.setdefault(pipeline, {})[f"on_{tail}"] = template
            else:
                self.problem("events", f"unknown event {key!r}{did_you_mean(key, accepted)}; events: {', '.join(accepted)}")
        return m.RunbookEvents(**common, by_pipeline={p: m.PipelineEvents(**e) for p, e in by_pipeline.items()})


def load_runbook(raw: RawRunbook) -> m.Runbook | None:
    """The runtime runbook, with what it cannot convert added to raw.problems; None for a file that could not be read."""
    if raw.unreadable:
        return None
    return _Loader(raw).load()
