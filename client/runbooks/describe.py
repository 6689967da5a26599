"""Runbooks as text for a terminal: a pipeline's graph (`orchard runbook show`) and what each of
its phases would run with given inputs (`orchard runbook render`, a dry run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from client.runbooks.registry import RunbookRegistry
from workflows.runbooks import model as m
from workflows.runbooks.branches import pipeline_branch
from workflows.runbooks.graph import gates
from workflows.runbooks.shell import ShellText
from workflows.runbooks.templates import RenderError, pipeline_context, render
from workflows.sdk.durations import format_duration


def _name(reference: m.Ref, home: str, said: bool = False) -> str:
    """`build.task.x` -> `task x` in its own runbook (`x` where the line already `said` what it is),
    `common.task.x` elsewhere."""
    runbook, kind, name = m.split_ref(reference)
    if runbook != home:
        return reference
    return name if said else f"{kind} {name}"


def _time(seconds: float | None) -> str:
    return format_duration(seconds) if seconds else ""


def _oneline(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Describer:
    def __init__(self, registry: RunbookRegistry, pipeline: m.PipelineDef):
        self.registry, self.pipeline = registry, pipeline
        self.home = m.runbook_of(pipeline.ref)

    def action(self, action: Any) -> list[str]:
        if isinstance(action, m.RunShell):
            return [f"run      $ {_oneline(action.command.source)}"]
        if isinstance(action, m.RunTask):
            task: m.TaskDef = self.registry.resolve(action.task)
            settings = ", ".join(f"{k} {v}" for k, v in (("plugin", task.plugin), ("model", task.model), ("timeout", _time(task.timeout))) if v)
            return [f"agent    {_name(action.task, self.home, said=True)}" + (f" ({settings})" if settings else "")]
        if isinstance(action, m.RunChain):
            return self.chain(action.strategy)
        if isinstance(action, m.RunPipeline):
            return [f"pipeline {_name(action.pipeline, self.home, said=True)}"]
        if isinstance(action, m.RunOrchardStrategy):
            params = " ".join(f"{k}={v}" for k, v in action.params.items())
            return [f"orchard  {action.strategy} {params}".rstrip() + (f" with {_name(action.task, self.home)}" if action.task else "")]
        return ["waits    on its guards"]

    def chain(self, reference: m.Ref) -> list[str]:
        chain: m.ChainDef = self.registry.resolve(reference)
        checkpoint = f" (checkpoint $ {_oneline(chain.checkpoint.source, 60)})" if chain.checkpoint else ""
        lines = [f"strategy {_name(reference, self.home, said=True)}{checkpoint}"]
        for number, attempt in enumerate(chain.attempts, 1):
            what = (f"$ {_oneline(attempt.action.command.source, 70)}" if isinstance(attempt.action, m.RunShell)
                    else f"agent {_name(attempt.action.task, self.home, said=True)}")
            extra = ", ".join(x for x in (_time(attempt.timeout), "rollback" if attempt.rollback else "") if x)
            lines.append(f"  {number}. {attempt.name}: {what}" + (f" ({extra})" if extra else ""))
        after = f" after {_time(chain.on_exhaust.after)}" if chain.on_exhaust.kind == "retry" else ""
        lines.append(f"  exhausted: {chain.on_exhaust.kind}{after}")
        return lines

    def guards(self, key: str, references: list[m.Ref]) -> Iterator[str]:
        for reference in references:
            guard: m.GuardDef = self.registry.resolve(reference)
            extra = ", ".join(x for x in (
                f"timeout {_time(guard.timeout)} then {m.describe_edge(guard.on_timeout)}" if guard.timeout else "",
                f"retry {guard.retry.max}x" if guard.retry else "",
                f"wakes on {', '.join(p.source for p in guard.wake_on)}" if guard.wake_on else "",
            ) if x)
            yield f"{key:<8} {_name(reference, self.home)}: $ {_oneline(guard.condition.source, 60)}" + (f" ({extra})" if extra else "")

    def graph(self) -> list[str]:
        p = self.pipeline
        inputs = ", ".join(f"{i}={p.defaults[i].source!r}" if i in p.defaults else i for i in p.inputs) or "none"
        lines = [f"pipeline {m.runbook_of(p.ref)}.{p.name}", f"  inputs: {inputs}"]
        derived = [f"{k} = {d.source!r}" for k, d in p.defaults.items() if k not in p.inputs]
        if derived:
            lines.append(f"  defaults: {', '.join(derived)}")
        if p.publish:
            lines.append(f"  publishes: {', '.join(p.publish)}")
        width = max(len(ph.name) for ph in p.phases)
        guarded = {g.on_timeout.phase for ph in p.phases for g in map(self.registry.resolve, (*ph.pre, *ph.post)) if isinstance(g.on_timeout, m.GotoPhase)}
        gated = {gate: target for target, gate in gates(p.phases, guarded).items()}
        for number, phase in enumerate(p.phases, 1):
            body = self.action(phase.action)
            if phase.name in gated:
                body[0] += f" (on the way to {gated[phase.name]}, from any other phase)"
            body += list(self.guards("pre", phase.pre)) + list(self.guards("post", phase.post))
            if phase.lock:
                lock: m.LockDef = self.registry.resolve(phase.lock)
                timing = f" (timeout {_time(lock.timeout)}, heartbeat {_time(lock.heartbeat)})" if lock.timeout else ""
                body.append(f"lock     {_name(phase.lock, self.home, said=True)}" + timing)
            if phase.semaphore:
                semaphore: m.SemaphoreDef = self.registry.resolve(phase.semaphore)
                body.append(f"slots    {_name(phase.semaphore, self.home, said=True)} (max {semaphore.max})")
            on_fail = f"    on_fail -> {m.describe_edge(phase.on_fail)}" if not isinstance(phase.on_fail, m.Failed) else ""
            body.append(f"next  -> {m.describe_edge(phase.next)}" + on_fail)
            lines.append(f"  {number}. {phase.name:<{width}}  {body[0]}")
            lines += [f"     {'':<{width}}  {line}" for line in body[1:]]
        return lines


def describe_pipeline(registry: RunbookRegistry, pipeline: m.PipelineDef) -> list[str]:
    return _Describer(registry, pipeline).graph()


class _Outputs(dict[str, Any]):
    """`outputs.plan` in a dry run: what plan would print is not known yet."""

    def __missing__(self, key: str) -> str:
        return ShellText(f"<output of {key}>")

    def __getattr__(self, key: str) -> str:
        return self[key]


def dry_run(registry: RunbookRegistry, pipeline: m.PipelineDef, inputs: dict[str, Any], fields: dict[str, Any] | None = None) -> list[str]:
    """What each phase would run with `inputs` (and a queue item's `fields`, for a worker's
    pipeline), rendered; runtime values shown as <placeholders>. Raises RenderError (a missing
    input, a template that fails on these values)."""
    home = m.runbook_of(pipeline.ref)
    configs = {name: book.config for name, book in registry.runbooks.items()}
    base = pipeline_context(pipeline, inputs, configs[home], fields=fields)
    try:
        branch, _ = pipeline_branch(pipeline.defaults, base, pipeline.name, "<run_id>")
    except ValueError as e:
        raise RenderError(str(e)) from None
    orchard = {"workspace": "<workspace>", "branch": branch, "run_id": "<run_id>", "pipeline": pipeline.name, "runbook": home}
    placeholders = {**orchard, "error": "<error>", "checkpoint": "<checkpoint>"}
    # Shown as written: a placeholder stands for a value, which a shell command quotes when it is known.
    runtime = {**{k: ShellText(v) for k, v in placeholders.items()}, "outputs": _Outputs()}
    own = {k: base[k] for k in (*pipeline.inputs, *pipeline.defaults) if k in base}  # a pipeline's own branch, workspace or pipeline

    def text(template: m.Template | None, phase: str, **extra: Any) -> str:
        if template is None:
            return ""
        values = {**base, **runtime, **own, "phase": phase, "orchard": {**{k: ShellText(v) for k, v in orchard.items()}, "phase": phase}}
        return render(template, {**values, **extra, "config": configs[template.runbook]}).strip()

    given = ", ".join(f"{k}={base[k]!r}" for k in [*pipeline.inputs, *(d for d in pipeline.defaults if d not in pipeline.inputs)])
    lines = [f"{home}.{pipeline.name} with {given}"]
    for number, phase in enumerate(pipeline.phases, 1):
        lines.append(f"{number}. {phase.name}")

        def guards(key: str, references: list[m.Ref], phase: str = phase.name) -> list[str]:
            return [f"   {key} {_name(r, home)}: $ {text(registry.resolve(r).condition, phase)}" for r in references]

        lines += guards("pre", phase.pre)
        lines += [f"   {line}" for line in _dry_action(registry, phase.action, phase.name, text, home)]
        lines += guards("post", phase.post)
    return lines


def _dry_action(registry: RunbookRegistry, action: Any, phase: str, text: Any, home: str) -> list[str]:
    if isinstance(action, m.RunShell):
        cwd = f" (in {text(action.cwd, phase)})" if action.cwd else ""
        return [f"$ {line}" for line in text(action.command, phase).splitlines()] + ([cwd.strip()] if cwd else [])
    if isinstance(action, (m.RunTask, m.RunOrchardStrategy)):
        task: m.TaskDef | None = registry.resolve(action.task) if action.task else None
        head = f"agent {_name(action.task, home, said=True)}" if isinstance(action, m.RunTask) else f"orchard {action.strategy} {action.params}"
        if task and task.command:
            head += f" via $ {text(task.command, phase)}"
        own = action.prompt if isinstance(action, m.RunOrchardStrategy) else None  # a RunTask's prompt is its task's
        prompt = text(task.prompt if task else own, phase)
        return [head + ", prompt:"] + [f"  | {line}" for line in prompt.splitlines()]
    if isinstance(action, m.RunChain):
        chain: m.ChainDef = registry.resolve(action.strategy)
        lines = [f"strategy {_name(action.strategy, home, said=True)}"]
        if chain.checkpoint:
            lines.append(f"  checkpoint $ {text(chain.checkpoint, phase)}")
        for number, attempt in enumerate(chain.attempts, 1):
            inner = {"attempt": attempt.name}
            if isinstance(attempt.action, m.RunShell):
                lines.append(f"  {number}. {attempt.name} $ {text(attempt.action.command, phase, **inner)}")
            else:
                task = registry.resolve(attempt.action.task)
                prompt = _oneline(text(task.prompt, phase, **inner), 80)
                lines.append(f"  {number}. {attempt.name}: agent {_name(attempt.action.task, home, said=True)}, prompt: {prompt}")
            if attempt.rollback:
                lines.append(f"     rollback $ {text(attempt.rollback, phase, **inner)}")
        return lines
    if isinstance(action, m.RunPipeline):
        given = {k: text(v, phase) for k, v in action.inputs.items()}
        return [f"pipeline {_name(action.pipeline, home, said=True)} with {given or 'the same inputs'}"]
    return ["(waits on its guards)"]
