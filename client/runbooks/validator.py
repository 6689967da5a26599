"""The semantic layer: runbooks checked as a whole, every problem at once.

- references resolve, across runbooks too (`common.task.planning`), to a definition of the kind
  asked for; a reference to an entry that exists but could not be read is not reported again;
- each pipeline's phase graph: `next` and `on_fail` name phases, every phase is reachable from
  the first, and every cycle has a phase whose `next` leaves it;
- templates read only what can exist where they are used: the pipeline's inputs and defaults,
  config keys that the runbook has, outputs of phases that the pipeline has, runtime values;
- commands give their pipeline's required inputs, Orchard strategies exist and take the settings
  given; what a queue worker hands its pipeline or task may read any name (an item's fields are
  variables there: workflows/runbooks/items.py), checked when an item comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from client.runbooks.parser import RunbookFile
from client.runbooks.problems import Problem, did_you_mean, shown
from workflows.runbooks import model as m
from workflows.runbooks.graph import gates
from workflows.runbooks.items import item_name
from workflows.runbooks.safety import protecting
from workflows.runbooks.templates import CHAIN_VARIABLES, FAILURE_VARIABLES, ITEM_VARIABLES, ORCHARD_VALUES, RUNTIME_VARIABLES, inspect, shell_variable_hint
from workflows.sdk.errors import ConfigError

_KIND_TABLE = {"task": "tasks (and agents)", "pipeline": "pipelines", "guard": "guards", "strategy": "strategies", "lock": "locks",
               "semaphore": "semaphores", "queue": "queues", "worker": "workers", "command": "commands", "cron": "crons", "monitor": "monitors",
               "action": "actions"}


@dataclass
class _Scope:
    """What templates may read in one place: names, the pipeline whose phases `outputs` may name."""
    names: set[str]
    pipeline: m.PipelineDef | None
    described: str
    fields: bool = False
    """Any name may be a variable here, checked when the values come: a queue item's fields (a worker's
    pipeline or task, a dead letter's hook; workflows/runbooks/items.py), a monitor's item (whatever
    fields its source prints). Only config is checked."""
    readable: str = "not an input, a default, config, an output or a runtime value"
    """What a name read here may be (said of a name that cannot exist here)."""

    def plus(self, extra: dict[str, str]) -> _Scope:
        return _Scope(self.names | set(extra), self.pipeline, self.described, self.fields, self.readable)


class _Validator:
    def __init__(self, runbooks: dict[str, m.Runbook], files: dict[str, RunbookFile]):
        self.runbooks, self.files = runbooks, files
        self.problems: set[Problem] = set()
        self.handled: dict[m.Ref, str] = {}
        """The pipelines and tasks queue workers hand items to, with the name of the queue they take them from."""

    def problem(self, runbook: str, place: str, message: str) -> None:
        self.problems.add(Problem(self.files[runbook].file, place, message))

    # -- references -------------------------------------------------------------------------

    def resolve(self, reference: m.Ref, owner: str, place: str, key: str) -> Any:
        """The definition `reference` names, or None (with a problem unless its file defines it but it could not be read)."""
        runbook_name, kind, name = m.split_ref(reference)
        file = self.files.get(runbook_name)
        if file is None:
            listing = f" (runbooks: {', '.join(sorted(self.files))})" if len(self.files) <= 10 else ""
            self.problem(owner, place, f"{key}: there is no runbook {runbook_name!r}{did_you_mean(runbook_name, self.files)}{listing}")
            return None
        runbook = self.runbooks.get(runbook_name)
        found = runbook.table(kind).get(name) if runbook else None
        if found is None and not file.unreadable and not file.defines(kind, name):
            known = sorted(file.defined[kind])
            where = "" if runbook_name == owner else f" in {file.file}"
            listing = (f"; {_KIND_TABLE[kind]}{where}: {', '.join(known)}" if known
                       else f"; {file.file if where else 'this runbook'} defines no {_KIND_TABLE[kind]}")
            self.problem(owner, place, f"{key}: {kind} {name!r} is not defined{where}{did_you_mean(name, known)}{listing}")
        return found

    # -- the whole set ----------------------------------------------------------------------

    def run(self) -> list[Problem]:
        self.handled = {w.handler: m.split_ref(w.queue)[2] for r in self.runbooks.values() for w in r.workers.values()}
        for runbook in self.runbooks.values():
            for pipeline in runbook.pipelines.values():
                self.pipeline(runbook, pipeline)
            for consumer in runbook.workers.values():
                self.consumer(runbook, consumer)
            for command in runbook.commands.values():
                self.command(runbook, command)
            for queue in runbook.queues.values():
                self.templates(queue.source, _Scope({"config"}, None, f"queue {queue.name}'s source", readable="it reads config only"))
                self.templates(queue.dead.on_add, _Scope({"config", "item", item_name(queue.name), "reason"}, None, f"queue {queue.name}'s dead letters",
                                                         fields=True))
            for chain in runbook.strategies.values():
                for index, attempt in enumerate(chain.attempts):
                    if isinstance(attempt.action, m.RunTask):
                        self.resolve(attempt.action.task, runbook.name, f'strategy.{chain.name}.attempt[{index}] "{attempt.name}"', "task")
            self.scheduling(runbook)
        return sorted(self.problems)

    def pipeline(self, runbook: m.Runbook, pipeline: m.PipelineDef) -> None:
        given = set(pipeline.inputs) | {"config"}
        for key, default in pipeline.defaults.items():
            self.templates(default, _Scope(set(given), None, f"pipeline {pipeline.name}'s defaults (the inputs and the defaults above)"))
            given.add(key)
        queue = self.handled.get(pipeline.ref)
        item = {"item", item_name(queue)} if queue is not None else set()
        scope = _Scope(set(pipeline.inputs) | set(pipeline.defaults) | set(RUNTIME_VARIABLES) | item, pipeline, f"pipeline {pipeline.name}",
                       fields=queue is not None)
        events: list[m.PipelineEvents | m.RunbookEvents] = [pipeline.events, runbook.events, runbook.events.by_pipeline.get(pipeline.name, m.PipelineEvents())]
        for group in events:
            for what in ("on_start", "on_phase", "on_complete"):
                self.templates(getattr(group, what), scope)
            self.templates(group.on_fail, scope.plus(FAILURE_VARIABLES))
        for index, phase in enumerate(pipeline.phases):
            self.phase(runbook, pipeline, phase, self.files[runbook.name].phase_place(pipeline.name, index, phase.name), scope)
        self.graph(runbook, pipeline)
        self.child_cycles(runbook, pipeline)

    def phase(self, runbook: m.Runbook, pipeline: m.PipelineDef, phase: m.PhaseDef, place: str, scope: _Scope) -> None:
        owner = runbook.name
        for key, guards in (("pre", phase.pre), ("post", phase.post)):
            for reference in guards:
                guard = self.resolve(reference, owner, place, key)
                if guard is not None:
                    self.guard(owner, pipeline, guard, place, scope)
        if phase.lock:
            self.resolve(phase.lock, owner, place, "lock")
        if phase.semaphore:
            self.resolve(phase.semaphore, owner, place, "semaphore")
        action = phase.action
        if isinstance(action, m.RunShell):
            self.templates(action.command, scope)
            self.templates(action.cwd, scope)
            for env in action.env.values():
                self.templates(env, scope)
        elif isinstance(action, m.RunTask):
            self.task(owner, action.task, place, "task", scope)
        elif isinstance(action, m.RunChain):
            self.chain(owner, action.strategy, place, "strategy", scope)
        elif isinstance(action, m.RunPipeline):
            self.child(runbook, pipeline, action, place, scope)
        elif isinstance(action, m.RunOrchardStrategy):
            self.orchard(owner, action, place, scope)
        if isinstance(phase.on_fail, m.UseChain):
            self.chain(owner, phase.on_fail.strategy, place, "on_fail", scope.plus(FAILURE_VARIABLES))
        if isinstance(phase.on_fail, m.UseAction):
            action = self.resolve(phase.on_fail.action, owner, place, "on_fail")
            if action is not None:
                self.templates(action.command, scope.plus(FAILURE_VARIABLES))

    def guard(self, owner: str, pipeline: m.PipelineDef, guard: m.GuardDef, place: str, scope: _Scope) -> None:
        self.templates(guard.condition, scope)
        for pattern in guard.wake_on:
            self.templates(pattern, scope)
        if isinstance(guard.on_timeout, m.TimeoutCommand):
            self.templates(guard.on_timeout.command, scope)
        if isinstance(guard.on_timeout, m.GotoPhase) and guard.on_timeout.phase not in {p.name for p in pipeline.phases}:
            self.problem(owner, place,
                         f"guard {guard.name}'s on_timeout = {guard.on_timeout.phase!r} is not a phase of pipeline {pipeline.name} (or escalate, failed)")

    def task(self, owner: str, reference: m.Ref, place: str, key: str, scope: _Scope) -> None:
        task = self.resolve(reference, owner, place, key)
        if task is None:
            return
        for template in (task.prompt, task.command, task.cwd, task.checkpoint, *task.env.values()):
            self.templates(template, scope)

    def chain(self, owner: str, reference: m.Ref, place: str, key: str, scope: _Scope) -> None:
        chain = self.resolve(reference, owner, place, key)
        if chain is None:
            return
        self.templates(chain.checkpoint, scope)
        inner = scope.plus(CHAIN_VARIABLES)
        for attempt in chain.attempts:
            self.templates(attempt.rollback, inner)
            if isinstance(attempt.action, m.RunShell):
                self.templates(attempt.action.command, inner)
            else:
                self.task(m.runbook_of(reference), attempt.action.task, f"strategy.{chain.name}", f"attempt {attempt.name!r}", inner)

    def child(self, runbook: m.Runbook, pipeline: m.PipelineDef, action: m.RunPipeline, place: str, scope: _Scope) -> None:
        for template in action.inputs.values():
            self.templates(template, scope)
        child = self.resolve(action.pipeline, runbook.name, place, "pipeline")
        if child is None:
            return
        unknown = sorted(set(action.inputs) - set(child.inputs))
        if unknown:
            self.problem(runbook.name, place, f"run.inputs: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not an input of pipeline {child.name} "
                                              f"(inputs: {', '.join(child.inputs) or 'none'})")
        missing = [i for i in child.required_inputs() if i not in action.inputs and i not in scope.names]
        if missing:
            self.problem(runbook.name, place,
                         f"pipeline {child.name} needs {', '.join(missing)}: give run.inputs (an input left out takes this pipeline's value of the same name)")

    def orchard(self, owner: str, action: m.RunOrchardStrategy, place: str, scope: _Scope) -> None:
        from workflows.strategies import BUILTIN_STRATEGIES  # the strategies import the whole SDK; only here are they needed

        if action.task:
            self.task(owner, action.task, place, "run.agent", scope)
        self.templates(action.prompt, scope)
        strategy = BUILTIN_STRATEGIES.get(action.strategy)
        if action.strategy in ("runbook", "runbook-worker", "runbook-cron"):
            self.problem(owner, place, f"run.orchard: {action.strategy} runs runbooks; write run = {{ pipeline = NAME }} for another pipeline")
            return
        if strategy is None:
            self.problem(owner, place, f"run.orchard: no Orchard strategy {action.strategy!r}{did_you_mean(action.strategy, BUILTIN_STRATEGIES)}; "
                                       f"strategies: {', '.join(BUILTIN_STRATEGIES)}")
            return
        try:
            strategy.normalize_params(dict(action.params))
        except ConfigError as e:
            self.problem(owner, place, f"run.orchard: {e}")

    def consumer(self, runbook: m.Runbook, consumer: m.ConsumerDef) -> None:
        place = f"worker.{consumer.name}"
        self.resolve(consumer.queue, runbook.name, place, "queue")
        handler = self.resolve(consumer.handler, runbook.name, place, "handler")
        if isinstance(handler, m.TaskDef):  # a pipeline's inputs are filled from the item's fields by name, when it comes
            name = item_name(m.split_ref(consumer.queue)[2])
            scope = _Scope(set(RUNTIME_VARIABLES) | set(ITEM_VARIABLES) | {name}, None, f"worker {consumer.name}'s task (the item is item, or {name})",
                           fields=True)
            for template in (handler.prompt, handler.command, handler.cwd, handler.checkpoint, *handler.env.values()):
                self.templates(template, scope)

    def command(self, runbook: m.Runbook, command: m.CommandDef) -> None:
        place = f"command.{command.name}"
        names = set(command.args.names()) | set(command.defaults)
        if isinstance(command.action, m.RunShell):
            self.templates(command.action.command, _Scope(names | {"config"}, None, f"command {command.name} (its args)",
                                                          readable="it reads its args and config only"))
            return
        pipeline = self.resolve(command.action.pipeline, runbook.name, place, "run.pipeline")
        if pipeline is None:
            return
        missing = [i for i in pipeline.required_inputs() if i not in names]
        if missing:
            self.problem(runbook.name, place, f"args {command.args.usage()!r} do not give {', '.join(missing)}, which pipeline {pipeline.name} needs")
        unknown = sorted(set(command.args.names()) - set(pipeline.inputs))
        if unknown:
            self.problem(runbook.name, place, f"args: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not an input of pipeline {pipeline.name} "
                                              f"(inputs: {', '.join(pipeline.inputs)})")

    # -- otters' newer sections: crons, monitors, actions, safety --------------------------------

    def scheduling(self, runbook: m.Runbook) -> None:
        """Crons name monitors, monitors' ladders name actions, a task's on_timeout may name one;
        a pipeline never publishes a ref [safety] protects. A monitor's templates read its items'
        fields, which only its source knows: only their config keys are checked."""
        items = _Scope({"config"}, None, "a monitor's items", fields=True)
        for cron in runbook.crons.values():
            place = f"cron.{cron.name}"
            for reference in cron.monitors:
                self.resolve(reference, runbook.name, place, "monitors")
            self.templates(cron.command, _Scope({"config", "cron"}, None, f"cron {cron.name}", readable="it reads config and cron only"))
            for hook in cron.events.hooks.values():
                self.templates(hook, items)
        for monitor in runbook.monitors.values():
            for step in monitor.response:
                if step.action is not None:
                    self.resolve(step.action, runbook.name, f"monitor.{monitor.name}", "response")
            self.templates(monitor.source, _Scope({"config"}, None, f"monitor {monitor.name}'s source", readable="it reads config only"))
            for template in (monitor.condition, monitor.command):
                self.templates(template, items)
        for action in runbook.actions.values():
            self.templates(action.command, items)
        for hook in [*runbook.events.hooks.values(), *(t for owned in runbook.events.by_owner.values() for t in owned.values())]:
            self.templates(hook, items)
        for task in runbook.tasks.values():
            if isinstance(task.on_timeout, m.UseAction):
                self.resolve(task.on_timeout.action, runbook.name, f"task.{task.name}", "on_timeout")
        protected = runbook.safety.protected
        for pipeline in runbook.pipelines.values():
            for branch in pipeline.publish:
                guard = protecting(runbook.safety, branch)
                if guard is not None:
                    self.problem(runbook.name, f"pipeline.{pipeline.name}", f"publish: {branch!r} is protected by [safety] ({guard!r} in protected = "
                                                                           f"[{', '.join(protected)}]): a pipeline of this runbook never publishes it")

    # -- the phase graph --------------------------------------------------------------------

    def graph(self, runbook: m.Runbook, pipeline: m.PipelineDef) -> None:
        """`next` and `on_fail` name phases; every phase is reachable and every cycle can leave
        (not said of a pipeline with a phase that could not be read: its edges are unknown)."""
        file = self.files[runbook.name]
        names = [p.name for p in pipeline.phases]
        written = [n for n in file.partial.get(pipeline.name, names) if n]
        edges: dict[str, list[str]] = {name: [] for name in names}
        leaves: set[str] = set()
        before = len(self.problems)
        for index, phase in enumerate(pipeline.phases):
            place = file.phase_place(pipeline.name, index, phase.name)
            if isinstance(phase.next, m.GotoPhase):
                if phase.next.phase in edges:
                    edges[phase.name].append(phase.next.phase)
                elif phase.next.phase not in written:
                    self.problem(runbook.name, place, f"next = {phase.next.phase!r} is not a phase{did_you_mean(phase.next.phase, written)}; "
                                                      f"phases: {', '.join(written)}; or done, failed")
            else:
                leaves.add(phase.name)
            if isinstance(phase.on_fail, m.GotoPhase):
                if phase.on_fail.phase in edges:
                    edges[phase.name].append(phase.on_fail.phase)
                elif phase.on_fail.phase not in written:
                    self.problem(runbook.name, place, f"on_fail = {phase.on_fail.phase!r} is not a phase{did_you_mean(phase.on_fail.phase, written)}, "
                                                      f"a strategy, escalate, failed or a retry; phases: {', '.join(written)}; "
                                                      f"nor an action: there is no [action.{phase.on_fail.phase}] (otters' custom on_fail names one)")
            for reference in (*phase.pre, *phase.post):
                guard = self._quiet_get(reference)
                if guard is not None and isinstance(guard.on_timeout, m.GotoPhase) and guard.on_timeout.phase in edges:
                    edges[phase.name].append(guard.on_timeout.phase)
        guarded = {g.on_timeout.phase for p in pipeline.phases for g in map(self._quiet_get, (*p.pre, *p.post))
                   if isinstance(g, m.GuardDef) and isinstance(g.on_timeout, m.GotoPhase)}
        for target, gate in gates(pipeline.phases, guarded).items():  # otters' blocked: entered on the way to its next
            for source in [s for s, targets in edges.items() if target in targets and s != gate]:
                edges[source].append(gate)
        if pipeline.name in file.partial or not names:
            return
        reached = _reachable(names[0], edges) if len(self.problems) == before else set(names)  # a bad edge explains the rest
        for index, name in enumerate(names):
            if name not in reached:
                self.problem(runbook.name, f'pipeline.{pipeline.name}.phase[{index}] "{name}"',
                             f"is unreachable: no next or on_fail leads to it from the first phase, {names[0]}")
        phases = {p.name: p for p in pipeline.phases}
        for component in _cycles(names, edges):
            members = set(component)
            exits = bool(leaves & members) or any(isinstance(to := phases[name].next, m.GotoPhase) and to.phase not in members for name in component)
            if not exits:
                loop = " -> ".join([*component, component[0]])
                self.problem(runbook.name, f"pipeline.{pipeline.name}", f"cycle without termination: {loop} (no phase in it has a next that leaves it)")

    def _quiet_get(self, reference: m.Ref) -> Any:
        runbook, kind, name = m.split_ref(reference)
        book = self.runbooks.get(runbook)
        return book.table(kind).get(name) if book else None

    def child_cycles(self, runbook: m.Runbook, pipeline: m.PipelineDef) -> None:
        path = [pipeline.ref]
        for chain in self._child_paths(pipeline, path):
            if chain[-1] == pipeline.ref:
                self.problem(runbook.name, f"pipeline.{pipeline.name}", f"runs itself: {' -> '.join(r.split('.', 2)[2] for r in chain)}")
                return

    def _child_paths(self, pipeline: m.PipelineDef, path: list[str]) -> Iterator[list[str]]:
        for phase in pipeline.phases:
            if isinstance(phase.action, m.RunPipeline):
                target = phase.action.pipeline
                if target in path:
                    yield [*path, target]
                    continue
                child = self._quiet_get(target)
                if isinstance(child, m.PipelineDef):
                    yield from self._child_paths(child, [*path, target])

    # -- templates --------------------------------------------------------------------------

    def templates(self, template: m.Template | None, scope: _Scope) -> None:
        if template is None:
            return
        try:
            use = inspect(template)
        except ValueError:
            return  # its table said so
        file, place, key = _where(template)
        owner = template.runbook
        config = self.runbooks[owner].config if owner in self.runbooks else {}

        def say(message: str) -> None:
            self.problems.add(Problem(file, place, f"{key}: {message}" if key else message))

        for name in sorted(use.variables - scope.names) if not scope.fields else []:
            near = did_you_mean(name, scope.names - {"config", "outputs"})
            say(f"{{{name}}} cannot exist in {scope.described}: {scope.readable}"
                f"{near}{shell_variable_hint(template, name)}")
        for name in sorted(use.orchard - set(ORCHARD_VALUES)) if "orchard" in scope.names else []:
            say(f"orchard.{name} is not one of Orchard's values{did_you_mean(name, ORCHARD_VALUES)}: "
                + ", ".join(f"orchard.{value}" for value in ORCHARD_VALUES))
        if "config" in scope.names:
            for name in sorted(use.config - set(config)):
                keys = f" (keys: {', '.join(sorted(config))})" if config else " (it has none)"
                say(f"config.{name} is not in [config] of {owner}{did_you_mean(name, set(config))}" + keys)
        if scope.pipeline is not None and use.outputs:  # not for every template: a pipeline may have hundreds of phases
            phases = [p.name for p in scope.pipeline.phases]
            for name in sorted(use.outputs - set(phases)):
                say(f"outputs.{name}: pipeline {scope.pipeline.name} has no phase {name!r}{did_you_mean(name, phases)}")


def _where(template: m.Template) -> list[str]:
    """(file, place, key) of a template, from its origin `bugfix.toml: task.fix: prompt`."""
    return [*template.origin.split(": ", 2), "", ""][:3]


def warnings(runbooks: dict[str, m.Runbook]) -> list[Problem]:
    """What is allowed but opts out of a safeguard: each value a shell command takes unquoted (`raw`)."""
    found: set[Problem] = set()
    for runbook in runbooks.values():
        for template in m.templates_in(runbook):
            try:
                raw = inspect(template).raw if template.shell else []
            except ValueError:
                continue  # its table said so
            file, place, key = _where(template)
            for names in raw:
                found.add(Problem(file, place, f"{key}: warning: raw puts {names} into the shell command unquoted: "
                                               "what it holds (an input's, a queue item's, an output's text) runs as shell code"))
    return sorted(found)


def option_collisions(runbooks: dict[str, m.Runbook], orchard: set[str]) -> list[Problem]:
    """Options a command's args define that Orchard's `runbook run` has too (`orchard` its flags):
    after the command's name they are the command's, so the user must know where Orchard's go."""
    return [
        Problem(shown(runbook.path), f"command.{command.name}",
                f"args: warning: {flag} is also Orchard's option: after the command's name it is the command's; "
                "Orchard's goes before the name, or after it but before a -- (the command's words follow the --)")
        for runbook in runbooks.values() for command in runbook.commands.values() for flag in sorted(set(command.args.flags()) & orchard)
    ]


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles(names: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components that hold a cycle (Tarjan's, iterative: a pipeline's phases
    may be thousands deep), each in phase order."""
    order = {name: i for i, name in enumerate(names)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in names:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(edges[root]))]
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component, key=order.__getitem__))
    return found


def validate(runbooks: dict[str, m.Runbook], files: dict[str, RunbookFile]) -> list[Problem]:
    """Every problem between the tables of the runbooks (read from `files`), sorted by file and place."""
    return _Validator(runbooks, files).run()
