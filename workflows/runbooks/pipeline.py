"""`runbook`: one run of a runbook's pipeline, as a Temporal workflow interpreting it.

The pipeline has one workspace, an isolated checkout of the base branch on its own branch
`orchard/runbook/<pipeline>/<run_id>`, on the host that holds it (the loop's host queues): every
phase runs there in order, so later phases see earlier phases' commits. A phase runs its pre
guards, takes its lock and semaphore (ctx.hold), runs its action (a command, an agent task, a
strategy chain) and its post guards; then `next`, or on failure `on_fail`: a phase, a retry, a
strategy chain, `escalate` (a person answers retry, skip, fail or goto:PHASE) or the end.
Every command is rendered here (workflows/runbooks/templates.py) and run by an activity on the
host; a strategy chain is the pure state machine of workflows/runbooks/chain.py driven here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.loops.iterations import run_iteration
from workflows.loops.models import IterationInput
from workflows.runbooks import chain as c
from workflows.runbooks import model as m
from workflows.runbooks.branches import pipeline_branch
from workflows.runbooks.graph import PhaseGraph, gates
from workflows.runbooks.safety import protecting
from workflows.runbooks.steps import StepInput, StepKind, StepOutcome
from workflows.runbooks.templates import RenderError, pipeline_context, render
from workflows.sdk.context import Context
from workflows.sdk.entities import HeldLease
from workflows.sdk.errors import StrategyError
from workflows.sdk.hosts import HostPlace, HostWorkFailed, run_on_host
from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.launch import Launch
from workflows.sdk.models import CommitStats, InstanceResult, PipelineSummary, Selection, is_remote_repo, truncate
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.sdk.trail import PhaseRecord
from workflows.sdk.visibility import SA_PIPELINE

PIPELINE_KEY = "pipeline"
OUTPUT_LIMIT = 4000
"""What a phase's output keeps for later phases' `outputs.PHASE` (the end of it)."""
NOTE_LIMIT = 300
LATE_GUARD_POLL = 900.0
"""Seconds between the checks of a guard waiting past its timeout (on_timeout = "wait"), at most:
about a hundred steps a day, so the run's one history holds weeks of waiting."""


@dataclass
class PipelineConfig(StrategyConfig):
    pipeline: str = ""
    """`runbook.pipeline.NAME`: the pipeline to run, in `runbooks`."""
    runbooks: dict[str, Any] = field(default_factory=dict)
    """The part of the runbooks the pipeline reaches (client/runbooks/registry.py's bundle)."""
    inputs: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    """When a queue worker runs the pipeline: its item's variables (workflows/runbooks/items.py), under the inputs and defaults."""
    host_timeout: float = 300.0
    """Seconds a step waits for the host holding the workspace before the run moves to another."""
    guard_poll: float = 10.0
    """Seconds between the checks of a guard that waits (one with a timeout)."""

    def __post_init__(self) -> None:
        if not self.pipeline:
            raise ValueError("pipeline: name the pipeline to run (RUNBOOK.pipeline.NAME)")
        book, pipeline = m.RunbookSet.carried(self.runbooks, self.pipeline, "pipeline")
        try:
            values = pipeline_context(pipeline, self.inputs, book.runbooks[m.runbook_of(pipeline.ref)].config, fields=self.fields)
        except RenderError as e:
            raise ValueError(str(e)) from None
        pipeline_branch(pipeline.defaults, values, pipeline.name, "<run_id>")
        if self.host_timeout <= 0 or self.guard_poll <= 0:
            raise ValueError("host_timeout and guard_poll must be positive")


@dataclass
class PhaseOutcome:
    ok: bool
    note: str = ""
    output: str = ""
    exit_code: int | None = None
    goto: str | None = None
    """A guard that timed out sends the run to this phase."""
    escalate: bool = False
    """The failure goes to a person whatever the phase's on_fail says (a failed rollback, a guard's on_timeout)."""
    attempts: list[str] = field(default_factory=list)
    stopped: bool = False
    """Its lock or semaphore was taken back while it ran, and it was stopped there."""


class PipelineLaunch(Launch):
    """Only a pipeline with an agent task of the command plugin and no command of its own needs the
    run's agent command. (It runs on a local repository or a remote: its gateway shows either's branches.)"""

    def needs_agent_command(self, params: dict[str, Any]) -> bool:
        book = m.RunbookSet.model_validate(params.get("runbooks") or {"runbooks": {}})
        return any(t.command is None and t.plugin in (None, "command") for r in book.runbooks.values() for t in r.tasks.values())


class PipelineStrategy(Strategy[PipelineConfig]):
    NAME = "runbook"
    LAUNCH = PipelineLaunch()

    def get_config_class(self) -> type[PipelineConfig]:
        return PipelineConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        self._cfg, self._ctx, self._base_branch = cfg, ctx, base_branch
        self._book = book = m.RunbookSet.model_validate(cfg.runbooks)
        self._pipeline = pipeline = book.get(cfg.pipeline)
        self._home = m.runbook_of(pipeline.ref)
        safety = book.runbooks[self._home].safety
        self._values = pipeline_context(pipeline, cfg.inputs, self._config(self._home), fields=cfg.fields)
        self._branch, self._named = pipeline_branch(pipeline.defaults, self._values, pipeline.name, ctx.run_id)
        self._publish = [b for b in [*pipeline.publish, *([self._branch] if self._named else [])] if protecting(safety, b) is None]
        """What the run's steps and agents may push to: the branches it publishes, and the one its runbook named (its own);
        never a ref its runbook's [safety] protects (the validator refuses that too)."""
        self._protected = list(safety.protected)
        """Paths a command of the pipeline may not change (activities/runbooks/steps.py refuses such a step)."""
        self._recoveries: Counter[str] = Counter()
        """How often each on_fail action ran in this run (its max_attempts)."""
        self._commit, self._branch_exists = ctx.base_commit, False
        self._place = HostPlace(None, cfg.host_timeout, move_when_lost=is_remote_repo(ctx._state.repo))
        self._stats = CommitStats()
        """What the pipeline changed since the base, counted as its workspace goes (_finish)."""
        self._steps = 0
        self._waited = 0.0
        """Seconds the running phase waited for its lock and semaphore."""
        self._held: list[HeldLease] = []
        """The leases of the phase whose action runs: its steps start only while they are fresh."""
        self._outputs: dict[str, str] = {}
        self._where = "starting"
        self._published: dict[str, str] = {}
        self._published_from: dict[str, str] = {}
        """Where each published branch was before the run moved it first."""
        self._refused: list[str] = []
        """Every publish refused, by whichever step or agent, with its reason."""
        self._trail: list[PhaseRecord] = []
        ctx.trail = self._trail
        self._graph = graph = PhaseGraph(pipeline.phases)
        guarded = {g.on_timeout.phase for g in (book.get(r) for p in pipeline.phases for r in (*p.pre, *p.post)) if isinstance(g.on_timeout, m.GotoPhase)}
        self._gates = gates(pipeline.phases, guarded)
        phases = {p.name: p for p in pipeline.phases}
        workflow.upsert_search_attributes([SA_PIPELINE.value_set(f"{self._home}.{pipeline.name}")])
        visits: Counter[str] = Counter()
        retries: Counter[str] = Counter()
        name: str | None = pipeline.phases[0].name
        error: str | None = None
        try:
            await self._event("on_start", phase=name)
            while name is not None:
                phase = phases[name]
                visits[name] += 1
                if visits[name] > pipeline.max_visits:
                    error = f"phase {name} would run a {visits[name]}th time (max_visits = {pipeline.max_visits})"
                    break
                graph.start(name)
                ctx.phase = self._where = f"phase {name}" + (f" (visit {visits[name]})" if visits[name] > 1 else "") + f" · {graph.words()}"
                ctx.graph = graph.lines()
                await self._event("on_phase", phase=name)
                started, self._waited = workflow.now(), 0.0
                outcome = await self._phase(phase)
                self._record(phase, visits[name], outcome, started)
                graph.record(name, outcome.ok)
                ctx.graph = graph.lines()
                self._outputs[name] = (outcome.output if outcome.ok else outcome.note)[-OUTPUT_LIMIT:]  # a loop back sees why it failed
                if outcome.ok:
                    retries[name] = 0
                    name, error = self._follow(phase.next)
                else:
                    name, error = await self._failed(phase, outcome, retries)
                name = self._gated(name, phase.name)
        except (asyncio.CancelledError, StrategyError):
            await self._finish()
            raise
        await self._event("on_complete" if error is None else "on_fail", phase=self._trail[-1].phase if self._trail else "", error=error or "")
        await self._finish()
        await self._ctx.emit(*self._ends(error))
        return [self._result(error)]

    def _ends(self, error: str | None) -> list[str]:
        """What the run's end tells runs waiting on it: `pipeline:<who>:complete|failed` (and `merged`
        when it published), for the pipeline's name, the run's id and its `name` input if it has one."""
        whats = ["complete" if error is None else "failed"] + (["merged"] if self._published and error is None else [])
        who = [self._pipeline.name, self._ctx.run_id] + ([str(self._values["name"])] if isinstance(self._values.get("name"), (str, int)) else [])
        return [f"pipeline:{w}:{what}" for w in dict.fromkeys(who) for what in whats]

    # -- phases -----------------------------------------------------------------------------

    def _gated(self, name: str | None, came_from: str) -> str | None:
        """The phase the run moves to: `name`, or first the phase that gates it (graph.gates), unless
        the run comes from that gate or runs `name` again."""
        gate = self._gates.get(name) if name is not None else None
        return gate if gate is not None and came_from not in (gate, name) else name

    def _follow(self, target: m.Next) -> tuple[str | None, str | None]:
        if isinstance(target, m.GotoPhase):
            return target.phase, None
        if isinstance(target, m.Failed):
            return None, f"phase {self._trail[-1].phase} leads to failed"
        return None, None

    async def _failed(self, phase: m.PhaseDef, outcome: PhaseOutcome, retries: Counter[str]) -> tuple[str | None, str | None]:
        """Where a failed phase leads: (the next phase, or None and the run's error if it ends)."""
        why = f"phase {phase.name} failed: {outcome.note}"
        if outcome.goto is not None:
            return outcome.goto, None
        action = m.Escalate() if outcome.escalate else phase.on_fail
        if isinstance(action, m.GotoPhase):
            return action.phase, None
        if isinstance(action, m.UseAction):
            return await self._recover(phase, outcome, action)
        if isinstance(action, m.RetryPhase):
            if retries[phase.name] < action.retry.max:
                retries[phase.name] += 1
                if action.retry.interval:
                    await workflow.sleep(action.retry.interval)
                await self._hook("retry", phase.name, error=outcome.note, reason=f"on_fail retry {retries[phase.name]} of {action.retry.max}")
                return phase.name, None
            return None, f"{why} (after {action.retry.max} retries)"
        if isinstance(action, m.UseChain):
            chained = await self._chain(action.strategy, phase, {"error": outcome.note})
            if chained.ok:
                return self._follow(phase.next)
            if chained.escalate:
                return await self._escalate(phase, chained)
            return None, f"{why}; then strategy {action.strategy}: {chained.note}"
        if isinstance(action, m.Escalate):
            return await self._escalate(phase, outcome)
        return None, why

    async def _recover(self, phase: m.PhaseDef, outcome: PhaseOutcome, use: m.UseAction) -> tuple[str | None, str | None]:
        """otters' custom on_fail (`verify_and_retry`): the action's command runs in the workspace
        with the phase's values and `error`; when it works the phase runs again (on_retry), at most
        the action's max_attempts times in this run; when it fails, or may not run again, the run fails."""
        action: m.ActionDef = self._book.get(use.action)
        why = f"phase {phase.name} failed: {outcome.note}"
        if action.max_attempts is not None and self._recoveries[action.name] >= action.max_attempts:
            return None, f"{why} (its on_fail action {action.name} ran {action.max_attempts} time(s), its max_attempts)"
        self._recoveries[action.name] += 1
        try:
            command = self._render(action.command, {**self._vars(phase.name), "error": outcome.note})
        except RenderError as e:
            return None, f"{why}; then action {action.name}: {e}"
        done = self._step_outcome(await self._step("run", f"action {action.name} (on_fail of phase {phase.name})", command, action.timeout or 600))
        if not done.ok:
            return None, f"{why}; then action {action.name}: {done.note}"
        self._trail[-1].note = truncate(f"{self._trail[-1].note}; action {action.name} worked: the phase runs again", NOTE_LIMIT) or ""
        await self._hook(action.name, phase.name, error=outcome.note)
        await self._hook("retry", phase.name, error=outcome.note, reason=f"action {action.name} worked")
        return phase.name, None

    async def _escalate(self, phase: m.PhaseDef, outcome: PhaseOutcome) -> tuple[str | None, str | None]:
        """A person decides: retry the phase, skip it (go on to its next), fail the run, or goto:PHASE."""
        phases = [p.name for p in self._pipeline.phases]
        await self._hook("escalate", phase.name, error=outcome.note, reason=outcome.note,
                         message=f"runbook {self._home}, pipeline {self._pipeline.name}, phase {phase.name} failed: {outcome.note}")
        tried = "".join(f"\n  {line}" for line in outcome.attempts)
        answer = await self._ctx.ask(
            f"Runbook {self._home}, pipeline {self._pipeline.name}, phase {phase.name} failed: {outcome.note}{tried}\n"
            f"retry: run phase {phase.name} again; skip: go on to what follows it; fail: end the run as failed; goto:PHASE: go to PHASE",
            choices=["retry", "skip", "fail", *(f"goto:{p}" for p in phases)], key=f"escalate/{self._steps}",
        )
        who = answer.by or "a person"
        self._trail[-1].note = truncate(f"{self._trail[-1].note}; {who} chose {answer.choice}", NOTE_LIMIT) or ""
        if answer.choice == "retry":
            await self._hook("retry", phase.name, error=outcome.note, reason=f"{who} chose retry")
            return phase.name, None
        if answer.choice == "skip":
            await self._hook("skip", phase.name, error=outcome.note, reason=f"{who} chose skip")
            return self._follow(phase.next)
        if answer.choice.startswith("goto:"):
            return answer.choice.removeprefix("goto:"), None
        return None, f"phase {phase.name} failed: {outcome.note}; {who} chose fail"

    async def _phase(self, phase: m.PhaseDef) -> PhaseOutcome:
        for reference in phase.pre:
            blocked = await self._guard(reference, phase, "pre")
            if blocked is not None:
                return blocked
        before = self._commit
        async with contextlib.AsyncExitStack() as leases:
            held = []
            for leased in (phase.lock, phase.semaphore):
                if leased is not None:
                    definition: m.LockDef | m.SemaphoreDef = self._book.get(leased)
                    most, beat, hold = definition.lease()
                    self._ctx.phase = f"phase {phase.name}: waiting for {leased}"
                    asked = workflow.now()
                    held.append((definition, await leases.enter_async_context(self._ctx.hold(
                        leased, max=most, heartbeat=beat, hold_timeout=hold, label=f"{self._pipeline.name} {self._ctx.run_id} phase {phase.name}"))))
                    self._waited += (workflow.now() - asked).total_seconds()
                    self._ctx.phase = self._where
            outcome = await self._while_held(phase, [lease for _, lease in held])
            if outcome.ok and not any(lease.lost for _, lease in held):
                for reference in phase.post:
                    blocked = await self._guard(reference, phase, "post")
                    if blocked is not None:
                        return blocked
            for definition, lease in held:
                if lease.lost is not None:
                    return await self._stale(phase, definition, lease.lost, before, outcome)
        return outcome

    async def _while_held(self, phase: m.PhaseDef, leases: list[Any]) -> PhaseOutcome:
        """The phase's action, stopped the moment a lease it holds is taken back: another run has
        the slot now, so this one must stop touching what it guards. A stopped step's work never
        reaches the branch (the next step starts from the run's last recorded commit)."""
        if not leases:
            return await self._action(phase)
        self._held = [lease.held for lease in leases]
        try:
            action = asyncio.create_task(self._action(phase))
            try:
                await workflow.wait_condition(lambda: action.done() or any(lease.lost for lease in leases))
            except asyncio.CancelledError:
                action.cancel()
                raise
            if action.done():
                return action.result()
            action.cancel()
            with contextlib.suppress(asyncio.CancelledError, StrategyError):
                await action
            return PhaseOutcome(ok=False, note="stopped", stopped=True)
        finally:
            self._held = []

    async def _stale(self, phase: m.PhaseDef, definition: Any, reason: str, before: str, outcome: PhaseOutcome) -> PhaseOutcome:
        """The lock or semaphore was taken back while the phase ran (another run may have had it
        since): its `on_stale` (a semaphore's `on_orphan`) says whether the phase's work is rolled
        back to where it started, whether the files it left (ignored ones too) are cleaned up, and
        whether a person decides what follows."""
        actions = definition.on_stale if isinstance(definition, m.LockDef) else [definition.on_orphan]
        note = f"{definition.ref} was taken back while the phase ran ({reason})"
        if outcome.stopped:
            note += "; the phase was stopped, and what its unfinished step did discarded"
        if "cleanup" in actions:
            cleaned = await self._step("rollback", f"phase {phase.name}: clean up", "git reset -q --hard && git clean -ffdqx", 600)
            note += "; its leftover files were removed" if cleaned.ok else f"; cleaning up failed: {self._step_outcome(cleaned).note}"
        if "rollback" in actions and self._commit != before:
            undone = await self._step("rollback", f"phase {phase.name}: roll back to {before[:12]}", f"git reset -q --hard {before}", 600)
            note += f"; its work was rolled back to {before[:12]}" if undone.ok else f"; rolling it back failed: {self._step_outcome(undone).note}"
        elif not {"rollback", "escalate"} & set(actions):
            return PhaseOutcome(ok=outcome.ok, note=f"{outcome.note}; {note}".lstrip("; "), output=outcome.output, exit_code=outcome.exit_code,
                                attempts=outcome.attempts)
        return PhaseOutcome(ok=False, note=note, escalate="escalate" in actions, attempts=outcome.attempts)

    async def _action(self, phase: m.PhaseDef) -> PhaseOutcome:
        action = phase.action
        values = self._vars(phase.name)
        try:
            if isinstance(action, m.RunShell):
                step = await self._step("run", f"phase {phase.name}", self._render(action.command, values), phase.timeout,
                                        cwd=self._render(action.cwd, values) if action.cwd else "",
                                        env={k: self._render(v, values) for k, v in action.env.items()})
                return self._step_outcome(step)
            if isinstance(action, m.RunTask):
                return await self._task(action.task, phase.name, values)
            if isinstance(action, m.RunChain):
                return await self._chain(action.strategy, phase, {})
            if isinstance(action, m.RunPipeline):
                child: m.PipelineDef = self._book.get(action.pipeline)
                inputs = {name: self._values[name] for name in child.inputs if name in self._values}
                inputs.update({k: self._render(v, values) for k, v in action.inputs.items()})
                params = {"pipeline": action.pipeline, "runbooks": self._cfg.runbooks, "inputs": inputs, "host_timeout": self._cfg.host_timeout}
                return await self._child(phase, PipelineStrategy.NAME, f"{action.pipeline} {inputs}", params)
            if isinstance(action, m.RunOrchardStrategy):
                task: m.TaskDef | None = self._book.get(action.task) if action.task else None
                written = task.prompt if task else action.prompt
                assert written is not None  # model.py's _orchard reads a task or a prompt, one of them
                prompt = self._render(written, values)
                return await self._child(phase, action.strategy, prompt, dict(action.params))
        except RenderError as e:
            return PhaseOutcome(ok=False, note=str(e))
        return PhaseOutcome(ok=True)  # a phase that only waits on its guards

    async def _child(self, phase: m.PhaseDef, strategy: str, prompt: str, params: dict[str, Any]) -> PhaseOutcome:
        """Another pipeline, or any Orchard strategy, as a child workflow from the pipeline's commit;
        its result (a strategy's winner) is merged into the pipeline's branch."""
        self._steps += 1
        base = self._branch if self._branch_exists else self._base_branch
        try:
            results = await self._ctx.run_strategy(strategy, prompt, base, params, key=f"{phase.name}/{self._steps}")
        except StrategyError as e:
            return PhaseOutcome(ok=False, note=f"{strategy}: {e}")
        chosen = next((r for r in results if r.winner), None) or next((r for r in results if r.success), None)
        if chosen is None:
            return PhaseOutcome(ok=False, note=f"{strategy}: no instance succeeded ({', '.join(r.error or r.status for r in results) or 'none ran'})")
        outputs = chosen.pipeline.outputs if chosen.pipeline else {}  # a child pipeline's: its last phase's is its output
        output = chosen.final_message or (list(outputs.values())[-1] if outputs else "")
        if not chosen.has_changes or not chosen.commit or chosen.commit == self._commit:
            return PhaseOutcome(ok=True, output=str(output))
        merged = await self._step("run", f"phase {phase.name}: merge {chosen.branch_name or chosen.commit[:12]}",
                                  f"git merge --quiet --no-edit {chosen.commit}", 600)
        return PhaseOutcome(ok=True, output=str(output)) if merged.ok else self._step_outcome(merged)

    def _step_outcome(self, step: StepOutcome) -> PhaseOutcome:
        if step.refused:
            return PhaseOutcome(ok=False, note=step.refused, output=step.stdout, exit_code=step.exit_code)
        if step.exit_code != 0:
            said = f"exited {step.exit_code}" if step.exit_code is not None else "timed out"
            return PhaseOutcome(ok=False, note=f"{said}: {_last_lines(step.output_tail)}", output=step.stdout, exit_code=step.exit_code)
        return PhaseOutcome(ok=True, output=step.stdout, exit_code=0)

    async def _guard(self, reference: m.Ref, phase: m.PhaseDef, when: str) -> PhaseOutcome | None:
        """None when the guard holds; else what the phase does about it."""
        guard: m.GuardDef = self._book.get(reference)
        try:
            command = self._render(guard.condition, self._vars(phase.name))
        except RenderError as e:
            return PhaseOutcome(ok=False, note=str(e))
        deadline = workflow.now() + timedelta(seconds=guard.timeout) if guard.timeout else None
        patient = isinstance(guard.on_timeout, m.KeepWaiting) or (bool(guard.wake_on) and deadline is None)
        """It goes on waiting: told to, or woken by events with no timeout to stop it (otters' guards wait for their event)."""
        checks = late = 0
        while True:
            step = await self._step("guard", f"{when} guard {guard.name}", command, guard.timeout or 600)
            if step.exit_code == 0:
                return None
            checks += 1
            if guard.retry is not None and checks <= guard.retry.max:
                await workflow.sleep(guard.retry.interval or 0.1)
                continue
            if (deadline is not None and workflow.now() < deadline) or patient:
                if deadline is not None and workflow.now() < deadline:
                    left, waiting = max((deadline - workflow.now()).total_seconds(), 0.1), ""
                    pause = left if guard.wake_on else min(self._cfg.guard_poll, left)
                else:  # on_timeout = "wait": past its timeout, checked less and less often (the run's history stays small)
                    late += 1
                    left = pause = min(self._cfg.guard_poll * 2 ** min(late, 8), LATE_GUARD_POLL)
                    waiting = " (past its timeout: on_timeout = wait)" if guard.timeout else " (for an event)" if guard.wake_on else ""
                self._ctx.phase = f"phase {phase.name}: waiting for guard {guard.name}{waiting}"
                if guard.wake_on:  # an event wakes it, not polling
                    await self._ctx.wait_for_event([self._render(p, self._vars(phase.name)) for p in guard.wake_on], timeout=pause)
                else:
                    await workflow.sleep(pause)
                self._ctx.phase = self._where
                continue
            note = f"{when} guard {guard.name} does not hold: $ {command} exited {step.exit_code}"
            if deadline is None:
                return PhaseOutcome(ok=False, note=note)
            note = f"{note} (waited {guard.timeout:g}s)"
            timeout = guard.on_timeout
            if isinstance(timeout, m.GotoPhase):
                return PhaseOutcome(ok=False, note=note, goto=timeout.phase)
            if isinstance(timeout, m.TimeoutCommand):
                return await self._timeout_command(guard, timeout, phase, when, note)
            return PhaseOutcome(ok=False, note=note, escalate=isinstance(timeout, m.Escalate))

    async def _timeout_command(self, guard: m.GuardDef, timeout: m.TimeoutCommand, phase: m.PhaseDef, when: str, note: str) -> PhaseOutcome:
        """A guard's on_timeout command (otters' `oj queue remove merges {id}`): it runs, then the phase fails (its on_fail follows)."""
        try:
            command = self._render(timeout.command, self._vars(phase.name))
        except RenderError as e:
            return PhaseOutcome(ok=False, note=f"{note}; on_timeout: {e}")
        step = await self._step("guard", f"{when} guard {guard.name}: on_timeout", command, 600)
        ran = "ran" if step.exit_code == 0 else f"exited {step.exit_code if step.exit_code is not None else '(timed out)'}: {_last_lines(step.output_tail)}"
        return PhaseOutcome(ok=False, note=f"{note}; on_timeout $ {command} {ran}")

    async def _task(self, reference: m.Ref, phase: str, values: dict[str, Any]) -> PhaseOutcome:
        """An agent task in the pipeline's workspace (the loop's run_iteration, without verification)."""
        task: m.TaskDef = self._book.get(reference)
        spec = self._ctx.task(task_fields(task, lambda t: self._render(t, values), self._base_branch, self._ctx._state.input.defaults.agent_env))
        self._steps += 1
        key = f"{phase}/{self._steps}"
        self._ctx.track(key, spec.plugin, self._branch)
        try:
            step, summary = self._steps, f"agent {task.name}"
            outcome = await run_iteration(  # paused, never failed, at a provider's limit: no retry, rollback or escalation for it
                self._ctx, key, self._place, lambda move: IterationInput(
                    repo=self._ctx._state.repo, run_id=self._ctx.run_id, loop_key=PIPELINE_KEY, iteration=step,
                    attempt_key=f"{step}.{move}", branch=self._branch, start_commit=self._commit, branch_exists=self._branch_exists, task=spec,
                    may_rewrite=True, publish=self._publish, branch_named=self._named,
                ), spec.timeout + 300, summary,
            )
        except HostWorkFailed as e:
            self._ctx.settle(key, None)
            raise StrategyError(f"{summary} could not run: {e}") from None
        except BaseException:
            self._ctx.settle(key, None)
            raise
        self._ctx.settle(key, outcome.agent)
        self._moved(outcome.snapshot.commit)
        self._publishing(outcome.published, outcome.published_from, outcome.refused)
        agent = outcome.agent
        if not agent.success and agent.status == "timeout" and isinstance(task.on_timeout, m.UseAction):
            note = f"agent {task.name}: {agent.error or agent.status}"
            return PhaseOutcome(ok=False, note=f"{note}; {await self._on_timeout(task.on_timeout, phase, {**values, 'error': note})}")
        if not agent.success:
            return PhaseOutcome(ok=False, note=f"agent {task.name}: {agent.error or agent.status}")
        if outcome.refused:
            return PhaseOutcome(ok=False, note=f"agent {task.name}: {outcome.refused}")
        return PhaseOutcome(ok=True, output=agent.final_message or "")

    async def _on_timeout(self, use: m.UseAction, phase: str, values: dict[str, Any]) -> str:
        """A task's `on_timeout` action (otters' `checkpoint_and_escalate`), run in the workspace
        before the phase fails as its on_fail says; what it did, in words."""
        action: m.ActionDef = self._book.get(use.action)
        try:
            command = self._render(action.command, values)
        except RenderError as e:
            return f"its on_timeout action {action.name}: {e}"
        done = self._step_outcome(await self._step("run", f"action {action.name} (on_timeout, phase {phase})", command, action.timeout or 600))
        await self._hook(action.name, phase, error=values.get("error", ""))
        return f"its on_timeout action {action.name} ran" if done.ok else f"its on_timeout action {action.name} failed: {done.note}"

    # -- strategy chains --------------------------------------------------------------------

    async def _chain(self, reference: m.Ref, phase: m.PhaseDef, extra: dict[str, Any]) -> PhaseOutcome:
        """The seed's state machine driven to its end: every checkpoint, attempt and rollback an activity."""
        chain: m.ChainDef = self._book.get(reference)
        state, effects = c.transition(chain, c.ChainState(), c.Start())
        retried = 0
        rolled_back: set[int] = set()
        """The failures (by index) whose rollback ran."""
        while True:
            for effect in effects:
                if isinstance(effect, c.Emit):
                    workflow.logger.info("%s: %s", self._pipeline.name, effect.event)
            event = await self._chain_step(chain, state, [e for e in effects if not isinstance(e, (c.Emit, c.Escalate))], phase, extra)
            if isinstance(event, c.RollbackComplete):
                rolled_back.add(len(state.failures) - 1)
            if event is not None:
                state, effects = c.transition(chain, state, event)
                continue
            attempts = [f"{f.attempt}: {f.reason}" + (f"; rolled back to {(state.checkpoint or '')[:12]}" if i in rolled_back else "")
                        for i, f in enumerate(state.failures)]
            if state.status == "succeeded":
                return PhaseOutcome(ok=True, output=state.checkpoint or "", attempts=attempts)
            if state.status == "failed":
                return PhaseOutcome(ok=False, note=f"strategy {chain.name}: {state.reason}", attempts=attempts,
                                    escalate=any(isinstance(e, c.Escalate) for e in effects))
            exhaust = chain.on_exhaust  # exhausted
            if exhaust.kind == "retry" and retried < exhaust.max:
                retried += 1
                await workflow.sleep(exhaust.after or 0)
                state, effects = c.transition(chain, state, c.Retry())
                continue
            return PhaseOutcome(ok=False, note=f"strategy {chain.name}: {state.reason}", attempts=attempts, escalate=exhaust.kind == "escalate")

    async def _chain_step(self, chain: m.ChainDef, state: c.ChainState, effects: list[Any], phase: m.PhaseDef,
                          extra: dict[str, Any]) -> c.ChainEvent | None:
        """Run the effect that asks for work and say how it went; None when the chain is at an end."""
        if not effects:
            return None
        (effect,) = effects
        values = {**self._vars(phase.name), **extra, "checkpoint": state.checkpoint or ""}
        try:
            if isinstance(effect, c.RunCheckpoint):
                step = await self._step("checkpoint", f"strategy {chain.name} checkpoint", self._render(effect.command, values), 600)
                if step.exit_code == 0:
                    return c.CheckpointComplete(value=step.stdout.strip())
                return c.CheckpointFailed(reason=self._step_outcome(step).note)
            if isinstance(effect, c.RunRollback):
                attempt = chain.attempts[effect.index]
                step = await self._step("rollback", f"attempt {attempt.name} rollback", self._render(effect.command, {**values, "attempt": attempt.name}), 600)
                return c.RollbackComplete() if step.ok else c.RollbackFailed(reason=self._step_outcome(step).note or "refused")
            attempt = effect.attempt
            inner = {**values, "attempt": attempt.name}
            if isinstance(effect, c.SpawnTask):
                outcome = await self._task(effect.task, phase.name, inner)
                return c.AttemptSucceeded() if outcome.ok else c.AttemptFailed(reason=outcome.note)
            step = await self._step("attempt", f"attempt {attempt.name}", self._render(attempt.action.command, inner), attempt.timeout)
        except RenderError as e:
            return c.AttemptFailed(reason=str(e)) if state.status == "trying" else c.RollbackFailed(reason=str(e))
        if step.exit_code is None:
            return c.AttemptTimeout(seconds=attempt.timeout)
        outcome = self._step_outcome(step)
        return c.AttemptSucceeded() if outcome.ok else c.AttemptFailed(reason=outcome.note)

    # -- steps on the host ------------------------------------------------------------------

    async def _step(self, kind: StepKind, label: str, command: str, timeout: float | None, cwd: str = "", env: dict[str, str] | None = None) -> StepOutcome:
        self._steps += 1
        number = self._steps
        seconds = timeout or 3600.0
        outcome: StepOutcome = await self._on_host(
            "run_runbook_step", lambda move: StepInput(
                repo=self._ctx._state.repo, run_id=self._ctx.run_id, key=PIPELINE_KEY, step=number, attempt_key=f"{number}.{move}", kind=kind,
                label=label, command=command, cwd=cwd, env=env or {}, timeout=seconds, branch=self._branch, start_commit=self._commit,
                branch_exists=self._branch_exists, publish=self._publish, branch_named=self._named, leases=self._held, protected=self._protected,
            ), StepOutcome, seconds + 120, label, activity_id=lambda move: f"step/{number}.{move}",
        )
        self._moved(outcome.commit)
        self._publishing(outcome.published, outcome.published_from, outcome.refused)
        return outcome

    def _publishing(self, published: dict[str, str], before: dict[str, str], refused: str | None) -> None:
        self._published.update(published)
        for name, old in before.items():
            self._published_from.setdefault(name, old)
        if refused:
            self._refused.append(refused)

    def _moved(self, commit: str) -> None:
        if commit != self._commit:
            self._commit, self._branch_exists = commit, True

    async def _on_host(self, activity: str, make: Any, result_type: type, seconds: float, summary: str, activity_id: Any) -> Any:
        """Run `activity` on the host that holds the workspace (another one, checked out afresh, when that host is gone)."""
        try:
            return await run_on_host(self._place, activity, make, result_type, seconds, summary, activity_id)
        except HostWorkFailed as e:
            raise StrategyError(f"{summary} could not run: {e}") from None

    async def _event(self, what: str, **values: Any) -> None:
        """The pipeline's event command (its own, else its runbook's); a failing one is logged, never fatal."""
        book = self._book.runbooks[self._home]
        runbook_for_pipeline = book.events.by_pipeline.get(self._pipeline.name, m.PipelineEvents())
        template = getattr(self._pipeline.events, what) or getattr(runbook_for_pipeline, what) or getattr(book.events, what)
        if template is None:
            return
        try:
            command = self._render(template, {**self._vars(values.get("phase") or ""), **values})
        except RenderError as e:
            workflow.logger.warning("%s event: %s", what, e)
            return
        step = await self._step("event", f"event {what}", command, 300)
        if step.exit_code != 0:
            workflow.logger.warning("%s event exited %s: %s", what, step.exit_code, _last_lines(step.output_tail))

    async def _hook(self, what: str, phase: str, **values: Any) -> None:
        """One of otters' newer events (on_escalate, on_retry, on_skip, on_<action>) as it happens:
        the runbook's command for this pipeline (`on_<pipeline>_<event>`), else for all. A failing one is logged."""
        template = self._book.runbooks[self._home].events.command(what, self._pipeline.name)
        if template is None:
            return
        try:
            command = self._render(template, {**self._vars(phase), "error": "", "reason": "", "message": "", **values})
        except RenderError as e:
            workflow.logger.warning("on_%s event: %s", what, e)
            return
        step = await self._step("event", f"event on_{what}", command, 300)
        if step.exit_code != 0:
            workflow.logger.warning("on_%s event exited %s: %s", what, step.exit_code, _last_lines(step.output_tail))

    # -- values, records, the end -----------------------------------------------------------

    def _config(self, runbook: str) -> dict[str, Any]:
        return self._book.runbooks[runbook].config if runbook in self._book.runbooks else {}

    def _vars(self, phase: str) -> dict[str, Any]:
        """What a template reads: an item's fields (a worker's pipeline), Orchard's runtime values
        (branch, workspace and pipeline unless the pipeline names them itself), the inputs and
        defaults, and always Orchard's own as `orchard.NAME`."""
        p = self._pipeline
        orchard = {"branch": self._branch, "workspace": ".", "pipeline": p.name, "run_id": self._ctx.run_id, "runbook": self._home, "phase": phase}
        own = {name: self._values[name] for name in (*p.inputs, *p.defaults) if name in self._values}
        return {
            **self._values, "workspace": ".", "branch": self._branch, "pipeline": p.name, **own,
            "phase": phase, "run_id": self._ctx.run_id, "runbook": self._home, "outputs": dict(self._outputs), "orchard": orchard,
        }

    def _render(self, template: m.Template, values: dict[str, Any]) -> str:
        return render(template, {**values, "config": self._config(template.runbook)})

    def _record(self, phase: m.PhaseDef, visit: int, outcome: PhaseOutcome, started: datetime) -> None:
        self._trail.append(PhaseRecord(
            step=self._steps, phase=phase.name, visit=visit, action=phase.action.kind, ok=outcome.ok, note=truncate(outcome.note, NOTE_LIMIT) or "",
            exit_code=outcome.exit_code, commit=self._commit, attempts=outcome.attempts,
            started=started, duration_seconds=round((workflow.now() - started).total_seconds(), 3), waited_seconds=round(self._waited, 3),
        ))

    async def _finish(self) -> None:
        """The workspace (and its gateway) go with the run; the branch stays. What the pipeline
        changed since the base (files, lines) is counted in the workspace before it goes."""
        if self._place.queue is None:
            return
        try:
            self._stats = await workflow.execute_activity(
                "finish_loop", args=[self._ctx.run_id, PIPELINE_KEY, self._ctx.base_commit, self._commit], task_queue=self._place.queue,
                result_type=CommitStats,
                schedule_to_start_timeout=timedelta(seconds=min(self._cfg.host_timeout, 60)), start_to_close_timeout=timedelta(seconds=120),
                retry_policy=INFRA_RETRY, summary="remove the pipeline's workspace",
            )
        except ActivityError as e:
            workflow.logger.warning("the pipeline's workspace could not be removed on %s: %s", self._place.queue, e.cause or e)

    def _result(self, error: str | None) -> InstanceResult:
        ctx = self._ctx
        totals = ctx.totals()
        return InstanceResult(
            success=error is None, status="success" if error is None else "failed", error=error, error_type=None if error is None else "pipeline",
            key=PIPELINE_KEY, branch_name=self._branch if self._branch_exists else None, commit=self._commit, base_commit=ctx.base_commit,
            has_changes=self._commit != ctx.base_commit, duration_seconds=round((workflow.now() - ctx.started_at).total_seconds(), 3),
            commit_statistics=self._stats, files_changed=self._stats.files_changed, insertions=self._stats.insertions, deletions=self._stats.deletions,
            input_tokens=totals.input_tokens, output_tokens=totals.output_tokens, cost_usd=totals.cost_usd, cost_estimated=totals.cost_estimated,
            pipeline=PipelineSummary(runbook=self._home, name=self._pipeline.name, phases=list(self._trail), outputs=self._outputs,
                                     published=self._published, published_from=self._published_from, refused=self._refused),
            selection=Selection(reason="; ".join([error or "every phase done", *([self._publish_note()] if self._pipeline.publish else [])])),
        )

    def _publish_note(self) -> str:
        """What a pipeline that may publish did publish: each branch, from → to; or nothing."""
        if not self._published:
            return f"published nothing (it may publish {', '.join(self._pipeline.publish)})"
        return "published " + ", ".join(f"{name} {self._published_from.get(name, '')[:12] or '?'} → {sha[:12]}" for name, sha in self._published.items())


def task_fields(task: m.TaskDef, render: Callable[[m.Template], str], base_branch: str, run_env: dict[str, str]) -> dict[str, Any]:
    """An agent task as ctx.task takes it: its rendered prompt, and the settings it sets itself
    (its command line, plugin, model, timeout, turns, env), which win over the run's."""
    fields: dict[str, Any] = {"prompt": render(task.prompt), "base_branch": base_branch}
    if task.command is not None:
        fields.update(agent_command=render(task.command), plugin=task.plugin or "command")
    fields.update({name: getattr(task, name) for name in ("plugin", "model", "timeout", "max_turns") if getattr(task, name) is not None})
    if task.env:
        fields["agent_env"] = {**run_env, **{name: render(value) for name, value in task.env.items()}}
    return fields


def _last_lines(text: str, count: int = 3) -> str:
    """The last lines a command printed, as one line (the log marks stderr's lines; that mark goes)."""
    lines = [line.removeprefix("[stderr] ") for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"
