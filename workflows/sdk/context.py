"""`ctx`: how a strategy schedules agent instances, waits for them and verifies branches, runs
other strategies as children, asks a person, and carries its state into a fresh run.

Every instance is one `run_instance` activity (workspace, agent, import, cleanup on the host
that holds the workspace); activities are referred to by name so this module never imports
activity code into the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

from pydantic import ValidationError
from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

from workflows.sdk.admission import admitted, within_budget
from workflows.sdk.batches import Batches
from workflows.sdk.budget import Budget, BudgetGuard, InstanceSpend, spent_text
from workflows.sdk.children import ChildRuns
from workflows.sdk.entities import TakeTurnInput, Turn
from workflows.sdk.errors import AggregateTaskFailed, ContextAttributeError, StrategyError, TaskFailed
from workflows.sdk.events import Events, emit
from workflows.sdk.headroom import SharedBudgetGate
from workflows.sdk.instances import HEARTBEAT_TIMEOUT, INFRA_RETRY, run_instance
from workflows.sdk.leases import Lease, Leases
from workflows.sdk.models import (
    Answer,
    ChildRun,
    Continuation,
    DiffInput,
    InstanceInput,
    InstanceProgress,
    InstanceResult,
    MethodPick,
    RunInput,
    RunTotals,
    TaskSpec,
    TestSource,
    VerifyInput,
    VerifyResult,
    first_error,
    instance_branch,
)
from workflows.sdk.notifications import Notifier, answer_command
from workflows.sdk.pauses import ParentTeller
from workflows.sdk.pitaya import has_advice, missing_attribute_advice
from workflows.sdk.projection import Reserve
from workflows.sdk.questions import QuestionBook, timeout_of
from workflows.sdk.quota import QuotaWait
from workflows.sdk.slots import slots
from workflows.sdk.trail import TrailRow
from workflows.sdk.visibility import MEMO_BUDGET_WAIT, MEMO_QUOTA

HISTORY_EVENTS_LIMIT = 40_000
HISTORY_BYTES_LIMIT = 24 * 2**20
"""Past these a run asks for no more instances. Temporal ends a history at 51,200 events or 50 MiB,
and the first workflow task after a worker restart replays the whole history (a batched instance
costs its run ~2 KB, its input and its result; 20 MiB, 10,000 instances, replay in ~4 s of the
task's 10 s)."""
RUN_INSTANCES_LIMIT = 12_000
"""About what a run accepts by the limits above (instances asked for at once): a strategy whose
settings ask for more (best-of-n's n) refuses them before the run starts."""


_SCALARS = (str, int, float, bool, type(None))


def _plain_key(fields: dict[str, Any]) -> str | None:
    """A key for task fields whose values are all plain scalars (str, numbers, bools, None): equal
    for equal fields (1, 1.0 and True apart); None for any other fields (never cached)."""
    for value in fields.values():
        if type(value) not in _SCALARS:
            return None
    return repr(sorted(fields.items()))


@dataclass
class Handle:
    """A scheduled instance; pass it to ctx.wait / ctx.wait_all."""

    key: str
    branch: str
    task: asyncio.Future[InstanceResult]
    """A task of the run's own instance; a batched instance's future (Batches.add)."""

    def done(self) -> bool:
        return self.task.done()


@dataclass
class RunState:
    run_id: str
    strategy: str
    base_commit: str
    input: RunInput
    started_at: datetime
    """When the run's chain started (its first run, for a run continued as new)."""

    @property
    def repo(self) -> str:
        return self.input.repo

    @property
    def base_branch(self) -> str:
        return self.input.base_branch


class Context:
    def __init__(self, state: RunState, questions: QuestionBook, leases: Leases | None = None, events: Events | None = None):
        self._state = state
        self._leases = leases or Leases()
        self._events = events or Events()
        inp = state.input
        self._slots = slots(inp.max_parallel, inp.randomize_queue)
        self._handles: dict[str, tuple[TaskSpec, Handle]] = {}
        self._defaults: dict[str, Any] = {}
        """The run's task defaults as fields (dumped once)."""
        self._tasks: dict[str, TaskSpec] = {}
        """Tasks validated so far, by their fields but the prompt (ctx.task)."""
        self._own: list[asyncio.Task[InstanceResult]] = []
        """Instances run as this run's own activities (the first instances_per_history)."""
        self._batches = Batches(state.run_id, inp.instances_per_history, inp.max_parallel, inp.randomize_queue, lambda: self._own)
        self._batches.on_start = self._batch_started
        self.budget = BudgetGuard(inp.budget)
        """The run's budget and the live spend of its running instances (workflows/sdk/budget.py)."""
        self._batches.budgeted = self.budget.budget is not None
        self._batches.budget, self._batches.stopped = self._batch_budget, self._batches_stopped
        self._children = ChildRuns(state.run_id, inp, self._budget_left)
        self.notifier = Notifier(inp.notify, state.run_id, state.strategy, state.repo)
        """Tells orchard.yaml's `notify:` targets (workflows/sdk/notifications.py)."""
        self.shared = SharedBudgetGate(inp.budget.shared if inp.budget else None, state.run_id, self._shared_wait)
        self._batches.shared = self.shared.name
        """The shared budget the run's instances ask for headroom (`--budget NAME`)."""
        self._questions = questions
        self._chain = inp.chain
        self.progress: dict[str, InstanceProgress] = {}
        self._verifications = 0
        self._diffs = 0
        self.phase = "running"
        """What the strategy is doing now (e.g. "scoring"); `orchard watch` shows it."""
        self.published: list[InstanceResult] | None = None
        self.published_at: datetime | None = None
        self.trail: Sequence[TrailRow] = []
        """A strategy's record of its steps, one row each (workflows/sdk/trail.py), e.g. a loop's
        IterationRecords: `orchard watch`, `orchard show` and the TUI show the latest as a table
        while the run goes on. A row of a strategy's own (a dict, a model) is shown as a StepRecord."""
        self._quota_memo: datetime | None = None
        self._said: set[str] = set()
        self._waits_elsewhere: dict[str, datetime] = {}
        """Batches and child runs waiting for quota, by workflow id: until when."""
        self.parent = ParentTeller()
        """Tells the run's parent (when it is a child run) that it waits for quota."""
        self.keep_trail = False
        """Keep the whole trail in the run's result too (RunResult.trail): best-of-n's matrix and comparisons."""
        self.selections: list[MethodPick] = []
        """What each selection method picked (best-of-n): the run's result carries them (RunResult.selections)."""
        self.graph: list[str] = []
        """The strategy's shape, one line a node marked with where the run is (a pipeline's phases):
        the TUI and `orchard show` draw it while the run goes on."""

    if not TYPE_CHECKING:  # type checkers still flag a name ctx lacks

        def __getattr__(self, name: str) -> Any:
            """Only for what ctx lacks: a private name or one of Pitaya's (`ctx._orchestrator`) gets a
            line saying what to use instead. An error in the strategy's code, as any AttributeError
            is: the run waits, showing it and the strategy's line, until the file is fixed (then it resumes)."""
            if name.startswith("__") or not (name.startswith("_") or has_advice(name)):
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            raise ContextAttributeError(missing_attribute_advice(name))

    @property
    def run_id(self) -> str:
        return self._state.run_id

    @property
    def base_commit(self) -> str:
        return self._state.base_commit

    @property
    def base_branch(self) -> str:
        return self._state.base_branch

    @property
    def started_at(self) -> datetime:
        """When the run started (the first run of its chain)."""
        return self._state.started_at

    @property
    def earlier(self) -> dict[str, int]:
        """The instances of the earlier runs of this chain, by status."""
        return dict(self._chain.earlier) if self._chain else {}

    def _stop_if_canceled(self) -> None:
        """Raise CancelledError once the run was asked to cancel. The request can arrive while an
        instance is finishing anyway, and its result then comes back instead of a CancelledError:
        the strategy stops at its next step all the same."""
        if workflow.cancellation_reason() is not None:
            raise asyncio.CancelledError("the run was canceled")

    def key(self, *parts: Any) -> str:
        """A stable instance key from parts: ctx.key("gen", 1) -> "gen/1"."""
        if not parts:
            raise StrategyError("ctx.key() needs at least one part")
        return "/".join(map(str, parts))

    def now(self) -> float:
        """The run's clock in seconds since the epoch (Pitaya's `ctx.now()`): Temporal's, the same on replay."""
        return workflow.now().timestamp()

    def rand(self) -> float:
        """Deterministic random in [0, 1): recorded by Temporal, identical on replay."""
        return workflow.random().random()

    def branch_for(self, key: str) -> str:
        """The branch the work under `key` lands on in the user's repository."""
        return instance_branch(self._state.strategy, self._state.run_id, key, self._state.input.branch_namespace)

    def task(self, task: dict[str, Any] | TaskSpec) -> TaskSpec:
        """The full task an instance will run: the strategy's fields over the run's defaults.
        Pitaya's `plugin_name` is taken for `plugin`."""
        if isinstance(task, TaskSpec):
            return task
        given = {k: v for k, v in task.items() if not (k in ("model", "plugin", "plugin_name") and v in ("", None))}
        if "plugin_name" in given:
            given["plugin"] = given.pop("plugin_name")
        # A fan-out asks for thousands of tasks in one workflow task, most alike but for their prompt:
        # the rest is validated once (the first workflow task of 10,000 must stay far under Temporal's 2 s).
        prompt = given.pop("prompt", None)
        alike = _plain_key(given) if isinstance(prompt, str) else None
        known = self._tasks.get(alike) if alike is not None else None
        if known is not None:
            return known.model_copy(update={"prompt": prompt})
        if not self._defaults:
            self._defaults.update(self._state.input.defaults.model_dump())
        fields = {**self._defaults, **given, **({} if prompt is None else {"prompt": prompt})}
        try:
            spec = TaskSpec.model_validate(fields)
        except ValidationError as e:
            where, message = first_error(e)
            raise StrategyError(f"bad task field {where!r}: {message}") from None
        if alike is not None:
            self._tasks[alike] = spec
        return spec

    async def run(self, task: dict[str, Any] | TaskSpec, key: str) -> Handle:
        """Schedule one agent instance. The same key with the same task returns the same handle."""
        self._stop_if_canceled()
        spec = self.task(task)
        if key in self._handles:
            known, handle = self._handles[key]
            if known != spec:
                raise StrategyError(f"key {key!r} was already used for a different task; use ctx.key(...) to make keys unique")
            return handle
        info = workflow.info()
        events, size = info.get_current_history_length(), info.get_current_history_size()
        if events > HISTORY_EVENTS_LIMIT or size > HISTORY_BYTES_LIMIT:
            raise StrategyError(
                f"this run's history holds {events:,} events and {size / 2**20:.0f} MiB, past what a run accepts (40,000 events, "
                "24 MiB): a run this long must continue as new (ctx.should_continue_as_new(), ctx.continue_as_new())"
            )
        branch = self.branch_for(key)
        shown_branch = "" if spec.import_policy == "never" else branch
        self.progress[key] = InstanceProgress(key=key, branch=shown_branch, plugin=spec.plugin)
        running: asyncio.Future[InstanceResult]
        if len(self._own) < self._state.input.instances_per_history:
            running = asyncio.create_task(self._run_instance(self._instance_input(key, branch, spec)))
            self._own.append(running)
        else:  # its batch's future, no task of its own, its input made when its batch starts: a run asks for thousands in one workflow task
            running = self._batches.add(lambda: self._instance_input(key, branch, spec))
            running.add_done_callback(lambda done: self._batched_done(key, done))  # before any waiter's: recorded first
        handle = Handle(key=key, branch=branch, task=running)
        self._handles[key] = (spec, handle)
        return handle

    def _instance_input(self, key: str, branch: str, spec: TaskSpec) -> InstanceInput:
        return InstanceInput(
            repo=self._state.repo,
            run_id=self._state.run_id,
            strategy=self._state.strategy,
            key=key,
            branch=branch,
            base_commit=self._state.base_commit if spec.base_branch == self._state.base_branch else None,
            task=spec,
            report_spend=self.budget.budget is not None or self.shared.name is not None,
            shared_budget=self.shared.name,
        )

    async def _run_instance(self, inp: InstanceInput) -> InstanceResult:
        progress = self.progress[inp.key]
        async with self._slots:
            # The one door every instance goes through: past the run's budget, or refused by its shared budget, it does not start.
            refused: InstanceResult | None = await self._admitted(inp) or await self.shared.admit(inp, self.budget.projector.estimate(inp.key))
            if refused is not None:
                self.budget.projector.forget(inp.key)
                result = refused
            else:
                progress.status, progress.started_at = "running", workflow.now()
                try:
                    result = await within_budget(self.budget, inp, run_instance(inp, lambda until: self.quota_wait(inp.key, until)), self.totals)
                except asyncio.CancelledError:
                    progress.status = "canceled"
                    if self.shared.name is not None:  # settle its hold on the shared budget with what it spent so far
                        await self.shared.spent(inp.key, self.budget.live.get(inp.key, InstanceSpend(key=inp.key)).cost_usd)
                    raise
                await self.shared.spent(inp.key, result.cost_usd)
        self._record(progress, result)
        return result

    def _shared_wait(self, name: str, until: datetime | None) -> None:
        """Instances wait for shared budget `name` until `until` (None: no more): the run's memo says so (`orchard pending`)."""
        workflow.upsert_memo({MEMO_BUDGET_WAIT: {"name": name, "until": until.isoformat()} if until else None})

    async def _admitted(self, inp: InstanceInput) -> InstanceResult | None:
        """None: the run's budget lets the instance start; else why not (workflows/sdk/admission.py).
        While a running instance's spend is still unknown it waits, and the run says so."""
        return await admitted(self.budget, inp, self.totals, self._saying)

    @contextlib.contextmanager
    def _saying(self, said: str) -> Iterator[None]:
        """The run's phase is `said` while the block runs (logged once per run)."""
        before, self.phase = self.phase, said
        if said not in self._said:
            self._said.add(said)
            workflow.logger.info("%s", said)
        try:
            yield
        finally:
            if self.phase == said:
                self.phase = before

    def reserve_for_selection(self, steps: Sequence[str], per_candidate: float, fixed: int = 0, candidate_step: str = "candidate") -> str:
        """Keep part of the run's budget for selection (best-of-n's scorers, judges, test writers,
        whose instances' keys start with one of `steps`): candidates leave room for the calls the
        selection will ask for, and selection instances are never kept from starting, so the run
        picks among the candidates that ran. What the run says of it; "" without a budget."""
        if self.budget.budget is None:
            return ""
        self.budget.projector.reserve = Reserve(frozenset(steps), per_candidate, fixed, candidate_step)
        calls = f"about {per_candidate:g} agent call{'' if per_candidate == 1 else 's'} per candidate" + (f" and {fixed} more" if fixed else "")
        said = f"budget: keeping a reserve for selection ({calls})"
        workflow.logger.info("%s", said)
        return said

    def take_spend(self, spend: InstanceSpend) -> None:
        """A running instance's live spend (its activity's signal)."""
        if spend.key in self.progress and self.progress[spend.key].status == "running":
            self.budget.take(spend)

    def budget_reached(self, max_cost: float | None = None) -> str | None:
        """What the run says once its budget (or `max_cost`, a strategy's own, if lower) is spent:
        `spent $4.91 of $5`; None while there is budget left. A strategy that runs agents by other
        means than ctx.run (a loop's iterations) asks this before each."""
        budget = (self.budget.budget or Budget()).tighter(max_cost)
        guard = BudgetGuard(budget)
        guard.live = self.budget.live
        if not guard.reached(self.totals()):
            return None
        note = guard.stop(self.totals())
        self.budget.stopped += 1
        self.budget.note = note
        return note

    def _budget_left(self) -> Budget | None:
        """A child strategy's budget: this run's, counting what the run has spent so far (live spend included)."""
        budget = self.budget.budget
        if budget is None:
            return self._state.input.budget  # a shared budget alone: the child asks it too
        cost, tokens, _ = self.budget.figures(self.totals())
        return budget.for_child(cost, tokens)

    def quota_wait(self, key: str, until: datetime | None) -> None:
        """The run's instance (or tracked work) `key` waits for a provider's limit until `until`
        (None: no more): its progress says so, and the run's memo when the run's latest wait
        changes (`orchard pending`, without a worker); the run's `notify:` targets are told once per pause."""
        self.progress[key].quota_until = until
        self._quota_changed()

    def take_quota_wait(self, wait: QuotaWait) -> None:
        """A batch of this run's instances or a child run waits (or no longer does): its signal."""
        if wait.key in self.progress:
            self.quota_wait(wait.key, wait.until)
            return
        if wait.until is None:
            self._waits_elsewhere.pop(wait.run_id, None)
        else:
            self._waits_elsewhere[wait.run_id] = wait.until
        self._quota_changed()

    def _quota_changed(self) -> None:
        latest = self.quota_until()
        if latest != self._quota_memo:
            if latest is not None and self._quota_memo is None:  # the run starts waiting: tell, once per pause
                self.notifier.tell("quota", f"quota/{latest:%Y%m%dT%H%M%S}", quota_until=latest, error=f"waiting for quota until {latest:%H:%M} UTC")
            self._quota_memo = latest
            workflow.upsert_memo({MEMO_QUOTA: latest.isoformat() if latest else None})
            self.parent.tell("", latest)  # a child run: its parent shows the wait too

    def quota_until(self) -> datetime | None:
        """While instances (or a batch's, or a child run's) wait for a provider's limit to reset: until when (the latest)."""
        running = {r.run_id for r in self._children.records() if r.status == "running"}  # a child that ended (canceled while waiting) waits no more
        waiting = [p.quota_until for p in self.progress.values() if p.quota_until is not None]
        waiting += [until for run_id, until in self._waits_elsewhere.items() if run_id in running]
        return max(waiting) if waiting else None

    def _batched_done(self, key: str, done: asyncio.Future[InstanceResult]) -> None:
        """A batched instance's end (its batch's result, or canceled with the run)."""
        progress = self.progress[key]
        if done.cancelled():
            progress.status = "canceled"
            return
        result = done.result()
        self._record(progress, result)
        if result.error_type == "budget":  # kept from starting, or stopped, by the run's budget held in its batch
            self.budget.counted(key)  # not stop(): summing the run's totals for each of thousands would be quadratic

    def _batch_budget(self) -> tuple[Budget | None, dict[str, tuple[float, int]]]:
        """The next batch's budget: the run's, with what the run has spent so far counted as spent;
        and what an instance of each step is expected to spend."""
        if self.budget.budget is None:
            return None, {}
        cost, tokens, _ = self.budget.figures(self.totals())
        return self.budget.budget.for_child(cost, tokens), dict(self.budget.projector.largest)

    def _batches_stopped(self) -> str | None:
        """Why the run starts no more batches: its budget is reached; None while it is not."""
        if self.budget.budget is None:
            return None
        totals = self.totals()
        if not self.budget.reached(totals):
            return None
        return f"the run's budget is reached ({spent_text(*self.budget.figures(totals), self.budget.budget)})"

    def _batch_started(self, instances: list[InstanceInput]) -> None:
        now = workflow.now()
        for inp in instances:
            self.progress[inp.key].status, self.progress[inp.key].started_at = "running", now

    def _record(self, progress: InstanceProgress, result: InstanceResult) -> None:
        self.budget.settled(progress.key, (result.cost_usd, result.input_tokens + result.output_tokens))
        progress.status = result.status
        progress.error = result.error
        progress.has_changes = result.has_changes
        progress.commit = result.commit
        progress.duration_seconds = result.duration_seconds
        progress.input_tokens = result.input_tokens
        progress.output_tokens = result.output_tokens
        progress.cost_usd = result.cost_usd
        progress.cost_estimated = result.cost_estimated
        progress.branch = result.branch_name or ""

    def track(self, key: str, plugin: str, branch: str = "") -> None:
        """Show a piece of agent work the strategy runs itself (not through ctx.run, e.g. a loop's
        iteration as its own activity) as a running instance; `settle` it with its result. Its
        activity id `instance/<key>` makes its heartbeats show live; it counts in the run's totals."""
        if key in self.progress:
            raise StrategyError(f"key {key!r} is already used in this run")
        self.progress[key] = InstanceProgress(key=key, branch=branch, plugin=plugin, status="running", started_at=workflow.now())

    def settle(self, key: str, result: InstanceResult | None) -> None:
        """The tracked work ended with `result` (None: canceled)."""
        if result is None:
            self.progress[key].status = "canceled"
        else:
            self._record(self.progress[key], result)

    def report(self, key: str, **metrics: float) -> None:
        """Show an instance's metrics while the run goes on (`orchard watch`, the TUI), e.g. its
        score as soon as the scorer gave it; the final results carry their own metrics."""
        if key not in self.progress:
            raise StrategyError(f"ctx.report: no instance {key!r} in this run")
        self.progress[key].metrics.update(metrics)

    async def wait(self, handle: Handle) -> InstanceResult:
        """The instance's result; raises TaskFailed (an InstanceFailed, result attached) if it failed."""
        result = await handle.task
        self._stop_if_canceled()
        if not result.success:
            raise TaskFailed(result)
        return result

    @overload
    async def wait_all(self, handles: list[Handle], tolerate_failures: Literal[False] = False) -> list[InstanceResult]: ...

    @overload
    async def wait_all(
        self, handles: list[Handle], tolerate_failures: Literal[True]
    ) -> tuple[list[InstanceResult], list[InstanceResult]]: ...

    async def wait_all(self, handles: list[Handle], tolerate_failures: bool = False) -> Any:
        """All results in order; with tolerate_failures, `(successes, failures)` instead of raising
        AggregateTaskFailed (an InstanceFailed: the first failure attached, `.keys` all failed keys)."""
        results = list(await asyncio.gather(*(h.task for h in handles)))
        self._stop_if_canceled()
        successes = [r for r in results if r.success]
        failures = [r for r in results if not r.success]
        if tolerate_failures:
            return successes, failures
        if failures:
            raise AggregateTaskFailed(failures[0], results)
        return results

    async def verify(self, target: InstanceResult | str, command: str, timeout: float = 1800.0, tests: Sequence[TestSource] = ()) -> VerifyResult:
        """Run a verification command (e.g. `pytest -q`) on a checkout of a result's commit. With
        `tests`, those folders of other commits (tests an agent wrote) are brought into the checkout
        first, over whatever it has there, and each test's outcome comes back (VerifyResult.tests)."""
        self._stop_if_canceled()
        commit = target.commit if isinstance(target, InstanceResult) else target
        if not commit:
            raise StrategyError("ctx.verify needs a result with a commit (or a commit id)")
        self._verifications += 1
        subject = target.key if isinstance(target, InstanceResult) else commit[:12]
        label = f"verify/{subject}#{self._verifications}"
        defaults = self._state.input.defaults
        verified: VerifyResult = await workflow.execute_activity(
            "verify_commit",
            VerifyInput(repo=self._state.repo, run_id=self._state.run_id, commit=commit, command=command, timeout=timeout, label=label,
                        tests=list(tests), runner=(target.runner if isinstance(target, InstanceResult) else None) or defaults.runner,
                        network_egress=defaults.network_egress),
            result_type=VerifyResult,
            activity_id=label,
            summary=f"{command} on {commit[:12]}",
            start_to_close_timeout=timedelta(seconds=timeout + 120),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=INFRA_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return verified

    async def diff(self, target: InstanceResult | str, limit: int = 20_000) -> str:
        """The changes from the run's base commit to a result's commit (or a commit id), as `git
        diff` shows them, cut to `limit` characters (and saying so): for an agent's prompt."""
        self._stop_if_canceled()
        commit = target.commit if isinstance(target, InstanceResult) else target
        if not commit:
            raise StrategyError("ctx.diff needs a result with a commit (or a commit id)")
        self._diffs += 1  # activity ids stay unique however often a commit is diffed
        shown: str = await workflow.execute_activity(
            "commit_diff",
            DiffInput(repo=self._state.repo, base=self._state.base_commit, commit=commit, limit=limit),
            result_type=str,
            activity_id=f"diff/{commit[:12]}#{self._diffs}",
            summary=f"diff of {commit[:12]}",
            start_to_close_timeout=timedelta(seconds=120),
            retry_policy=INFRA_RETRY,
        )
        return shown

    def publish(self, results: list[InstanceResult]) -> None:
        """Give the caller these results now while the run goes on (e.g. shadows still running):
        `orchard run` returns with them and says how to watch the rest. The run's own result is
        still what `execute` returns."""
        self.published = [r.model_copy(deep=True) for r in results]
        self.published_at = workflow.now()

    async def take_turn(self, rotation: str, options: list[str]) -> Turn:
        """The next turn of a rotation shared by every run on this repository: turn k gets
        `options[k % len(options)]`. Turns are handed out one at a time by a long-lived workflow,
        so they survive restarts and two runs never get the same turn; asking again in the same
        run returns the same turn."""
        self._stop_if_canceled()
        if not options:
            raise StrategyError("take_turn needs at least one option")
        turn: Turn = await workflow.execute_activity(
            "take_turn",
            TakeTurnInput(repo=self._state.repo, run_id=self._state.run_id, rotation=rotation, options=options),
            result_type=Turn,
            activity_id=f"turn/{rotation}",
            summary=f"take a turn of {rotation}",
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=INFRA_RETRY,
        )
        return turn

    def hold(self, name: str, max: int = 1, heartbeat: float | None = 30.0, hold_timeout: float | None = None, label: str = "") -> Lease:
        """A lock (max 1) or a semaphore's lease shared by every run on this repository:
        `async with ctx.hold("main_branch") as lease: ...`. The run waits in line (first come,
        first served) until it is granted; leaving the block releases it. A lease whose run stops
        beating for two heartbeats (its worker is gone) or holds it past `hold_timeout` is taken
        back and `lease.lost` says why."""
        self._stop_if_canceled()
        return self._leases.lease(self._state.repo, name, max, heartbeat, hold_timeout, label or f"{self._state.strategy} {self.run_id}")

    async def wait_for_event(self, patterns: list[str], timeout: float | None = None) -> str | None:
        """Wait, at no cost, until another run on this repository emits an event matching one of
        `patterns` (`pipeline:build:complete`, `bug:*`): that event, or None after `timeout` seconds."""
        self._stop_if_canceled()
        return await self._events.wait(patterns, timeout)

    async def emit(self, *events: str) -> int:
        """Tell the runs on this repository that wait for these events (ctx.wait_for_event); how many signals went."""
        return await emit(self._state.repo, list(events))

    def listening(self, patterns: list[str]) -> Any:
        """`with ctx.listening(patterns) as arrived:` the run is found by emitters of these patterns
        while the block runs, and `arrived()` is the first matching event since (or None): for a
        wait_condition that also waits for other things."""
        return self._events.listening(patterns)

    async def cancel_all(self) -> None:
        """Cancel every unfinished instance and child, and wait until they cleaned up."""
        pending = [h.task for _, h in self._handles.values() if not h.task.done()] + self._batches.pending() + self._children.pending()
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def run_strategy(
        self, strategy: Any, prompt: str, base_branch: str, params: dict[str, Any] | None = None, *, key: str
    ) -> list[InstanceResult]:
        """Run another strategy (a registered name or a Strategy class) as a child workflow and
        return its results, as its `execute` does. Raises ChildFailed (a StrategyError) when the
        child fails or is canceled. The same key with the same arguments is the same child."""
        self._stop_if_canceled()
        return await self._children.run(strategy, prompt, base_branch, params, key)

    async def ask(
        self,
        question: str,
        choices: Sequence[str] = (),
        default: str | None = None,
        timeout: float | timedelta | None = None,
        key: str | None = None,
    ) -> Answer:
        """Wait for a person to answer (`orchard answer RUN CHOICE`): one of `choices` (any text
        when there are none). After `timeout` (seconds) the default is taken, and the answer says
        so (`timed_out`). A question is known by its key (default: `question/<n>`); asking again
        under a key already answered returns that answer, also in a run continued as new."""
        self._stop_if_canceled()
        key = key or self._questions.next_key()
        done = self._questions.answer_to(key)
        if done is not None:
            return done
        open_question = self._questions.ask(key, question, list(choices), default, timeout_of(timeout))
        several = len(self._questions.open_questions()) > 1
        self.notifier.tell("question", f"question/{key}", question=open_question.model_dump(mode="json"),
                           answer_command=answer_command(self.run_id, key, several))
        before, self.phase = self.phase, f"waiting for a person ({key})"
        try:
            return await self._questions.wait(open_question)
        finally:
            self.phase = before

    @property
    def running_batch(self) -> str | None:
        """The workflow id of the batch of instances running now, if any (the progress query names it)."""
        return self._batches.running

    @property
    def carried(self) -> Any:
        """What the previous run of this chain passed to `continue_as_new`; None in the first run."""
        return self._chain.state if self._chain else None

    @property
    def runs(self) -> int:
        """Runs of this run's chain so far, this one included."""
        return (self._chain.runs if self._chain else 0) + 1

    def should_continue_as_new(self, max_instances: int | None = None) -> bool:
        """True when Temporal suggests a fresh history, or this run has scheduled `max_instances`."""
        return workflow.info().is_continue_as_new_suggested() or (max_instances is not None and len(self._handles) >= max_instances)

    async def continue_as_new(self, state: Any = None) -> NoReturn:
        """Carry `state` (JSON-ready) into a fresh run of this workflow, which calls `execute` again
        with it as `ctx.carried`. The run keeps its id, totals, progress and open questions: `orchard
        watch`, `show`, `cancel`, `list` and the final result follow the chain as one run. Instances
        and children still running are waited for first, so nothing is left behind."""
        pending = [h.task for _, h in self._handles.values() if not h.task.done()] + self._batches.pending() + self._children.pending()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.notifier.drain()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._stop_if_canceled()  # a cancel request is not carried into a new run: honour it here
        chain = Continuation(
            started_at=self._state.started_at, runs=self.runs, base_commit=self.base_commit, totals=self.totals(),
            earlier=self.instance_counts(), questions=self._questions.state, state=state,
        )
        workflow.continue_as_new(self._state.input.model_copy(update={"chain": chain}))

    def totals(self) -> RunTotals:
        """What the run spent: its instances, its children, and the earlier runs of its chain."""
        spent = self.progress.values()
        own = RunTotals(
            instances_run=len(self.progress),
            input_tokens=sum(p.input_tokens for p in spent),
            output_tokens=sum(p.output_tokens for p in spent),
            cost_usd=round(sum(p.cost_usd for p in spent), 6),
            cost_estimated=any(p.cost_estimated for p in spent),
        )
        total = own.plus(self._children.totals())
        return total.plus(self._chain.totals) if self._chain else total

    def instance_counts(self) -> dict[str, int]:
        """The chain's instances by status (earlier runs' and this run's)."""
        counts = Counter(self._chain.earlier if self._chain else {})
        counts.update(p.status for p in self.progress.values())
        return dict(counts)

    def children(self) -> list[ChildRun]:
        return self._children.records()


StrategyContext = Context
"""Pitaya's name for ctx's class (`from pitaya.orchestration.strategy.context import StrategyContext`)."""
