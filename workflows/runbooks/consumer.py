"""`runbook-worker`: a runbook's queue worker (`[worker.NAME]`), which the code calls a queue
consumer (a worker is the Temporal worker process, worker.py): a long-lived workflow.

Every `poll` (otters: `idle_action = "wait:30s"`) it reads its queue (an activity runs the
source, its filter and its order) and starts the handler for each item it has not handled: a
pipeline run (its inputs from the item's fields, items.py) or an agent task, as child workflows, at most
`concurrency` at once. An item is known by its `id` (else by its content) and handled once; one
that fails is tried again while the source still lists it, up to `max_retries` more times, and is
then dead-lettered (`on_exhaust = "dead"`, running `[queue.X.dead] on_add`), dropped, or put to
a person (`escalate`). Waiting between polls is a durable timer; the consumer continues as new
when its history grows (`items_per_run`), with every item's record carried. `orchard runbook
worker stop` (a steer update) lets the running items finish and ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.runbooks import model as m
from workflows.runbooks.consumer_state import ConsumerState, HookInput, QueueRead, QueueReadInput
from workflows.runbooks.items import handler_inputs, item_name, item_values
from workflows.runbooks.pipeline import PipelineLaunch, PipelineStrategy, task_fields
from workflows.runbooks.templates import RenderError, render
from workflows.sdk.context import Context
from workflows.sdk.errors import SteerRefused, StrategyError
from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.models import InstanceResult, QueueSummary, Selection, SteerRequest, key_hash8, truncate
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.sdk.trail import ItemRecord
from workflows.sdk.visibility import SA_PIPELINE

KEPT_SETTLED = 1000
"""Records of items handled for good that a consumer carries into its next run (the newest). An older
one's id is still skipped while the source lists it (the poll says so), so it is not handled again."""
RESULT_ITEMS = 200
"""Item records a stopped consumer's result lists (the newest); the counts cover them all."""
ITEMS_PER_POLL = 100
"""New items a poll brings back at most (the rest come with the next polls): the history stays small however long the source's list."""


@dataclass
class ConsumerConfig(StrategyConfig):
    worker: str = ""
    """`runbook.worker.NAME`, in `runbooks`: the ConsumerDef to run (the param keeps the runbook's word)."""
    runbooks: dict[str, Any] = field(default_factory=dict)
    host_timeout: float = 300.0
    items_per_run: int = 200
    """Items one history handles before the consumer continues as new (when none is running)."""

    def __post_init__(self) -> None:
        if self.items_per_run < 1:
            raise ValueError("items_per_run must be at least 1")
        m.RunbookSet.carried(self.runbooks, self.worker, "worker")


def _pruned(state: ConsumerState) -> ConsumerState:
    """The state a consumer carries on: every record of an item still to handle or dead-lettered, and
    the newest KEPT_SETTLED of those done or dropped (the older ones' ids stay skipped while listed)."""
    settled = [k for k, r in state.items.items() if r.status in ("done", "dropped")]
    gone = set(settled[:-KEPT_SETTLED]) if len(settled) > KEPT_SETTLED else set()
    return state.model_copy(update={"items": {k: r for k, r in state.items.items() if k not in gone}})


def item_id(item: Any) -> str:
    """An item's `id` when it has one, else a digest of its content."""
    if isinstance(item, dict) and item.get("id") not in (None, ""):
        return str(item["id"])
    return "sha-" + hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:12]


class ConsumerLaunch(PipelineLaunch):
    """As a pipeline's, and one consumer per repository and `[worker.NAME]`: starting it again finds the one that runs."""

    def run_id(self, params: dict[str, Any], repo: str) -> str:
        return f"worker_{params.get('worker', '').replace('.worker.', '.')}_{key_hash8(repo)}"


class QueueConsumerStrategy(Strategy[ConsumerConfig]):
    NAME = "runbook-worker"
    LAUNCH = ConsumerLaunch()

    def get_config_class(self) -> type[ConsumerConfig]:
        return ConsumerConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        self._ctx = ctx
        book = m.RunbookSet.model_validate(cfg.runbooks)
        consumer: m.ConsumerDef = book.get(cfg.worker)
        queue: m.QueueDef = book.get(consumer.queue)
        handler = book.get(consumer.handler)
        self._consumer, self._book = consumer, book
        self._state = state = ConsumerState.model_validate(ctx.carried) if ctx.carried else ConsumerState()
        self._items: dict[str, Any] = {}
        """The items being handled, by key: their events (on_issue_complete, ...) and a dead letter's hook read
        their fields (not carried: the consumer continues as new only when none runs)."""
        if self._early_stop is not None:  # asked while this run of the chain was starting
            state.stop_by = state.stop_by or self._early_stop
        home = m.runbook_of(queue.ref)
        workflow.upsert_search_attributes([SA_PIPELINE.value_set(consumer.ref)])
        running: dict[str, asyncio.Task[list[InstanceResult]]] = {}
        handled_here = 0
        ctx.trail = list(state.items.values())
        while True:
            if state.stop_by is None:
                ctx.phase = f"reading queue {queue.name}"
                items = await self._read(ctx, queue, book.runbooks[home])
                for item in items:
                    key = item_id(item)
                    record = state.items.get(key)
                    if len(running) >= consumer.concurrency:
                        break
                    if record is not None and record.status != "failed":
                        continue
                    attempts = record.attempts if record else 0
                    state.items[key] = ItemRecord(id=key, status="running", attempts=attempts + 1, run=f"item/{key}/{attempts + 1}", at=workflow.now())
                    self._items[key] = item
                    running[key] = asyncio.ensure_future(self._handle(ctx, cfg, handler, queue, item, key, attempts + 1, base_branch))
            ctx.trail = list(state.items.values())
            if state.stop_by is not None and not running:
                break
            ctx.phase = (f"{len(running)} item(s) running; next poll within {consumer.idle_wait:g}s" if state.stop_by is None
                         else f"stopping: {len(running)} item(s) finishing")
            patterns = [render(p, {"config": book.runbooks[home].config}) for p in consumer.wake_on]
            listening = ctx.listening(patterns) if consumer.wake_on else contextlib.nullcontext(lambda: None)
            with listening as woken, contextlib.suppress(asyncio.TimeoutError):  # the poll's time came
                await workflow.wait_condition(lambda: any(t.done() for t in running.values()) or state.stop_by is not None or woken() is not None,
                                              timeout=timedelta(seconds=consumer.idle_wait))
            for key in [k for k, t in running.items() if t.done()]:
                handled_here += 1
                await self._settle(queue, home, book, key, running.pop(key))
            ctx.trail = list(state.items.values())
            if not running and (handled_here >= cfg.items_per_run or ctx.should_continue_as_new()) and state.stop_by is None:
                await ctx.continue_as_new(_pruned(state).model_dump(mode="json"))
        counts: Counter[str] = Counter(r.status for r in state.items.values())
        return [InstanceResult(
            success=True, key="worker", queue=QueueSummary(items=list(state.items.values())[-RESULT_ITEMS:], counts=dict(counts)),
            selection=Selection(reason=f"stopped by {state.stop_by or 'a person'} after {counts['done']} item(s) done"),
        )]

    async def _read(self, ctx: Context, queue: m.QueueDef, book: m.Runbook) -> list[Any]:
        state = self._state
        state.polls += 1
        settled = set(state.listed_settled) | set(state.fresh_settled)
        try:
            read: QueueRead = await workflow.execute_activity(
                "read_runbook_queue", QueueReadInput(repo=ctx._state.repo, base_branch=ctx.base_branch, queue=queue, config=book.config,
                                                     functions=book.functions, settled=sorted(settled)),
                result_type=QueueRead, start_to_close_timeout=timedelta(seconds=300), retry_policy=INFRA_RETRY, summary=f"read queue {queue.name}",
            )
        except ActivityError as e:
            cause = e.cause
            state.last_error = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
            workflow.logger.warning("queue %s: %s", queue.name, state.last_error)
            return []
        state.last_error, state.listed_settled, state.fresh_settled = "", read.settled, []
        return read.items

    async def _handle(self, ctx: Context, cfg: ConsumerConfig, handler: Any, queue: m.QueueDef, item: Any, key: str, attempt: int,
                      base_branch: str) -> list[InstanceResult]:
        """The item to its handler: a pipeline (its inputs from the item's fields, items.py) or an agent task."""
        await self._item_event("start", key, attempt=attempt)
        values = item_values(item, queue.name)
        if isinstance(handler, m.PipelineDef):
            try:
                inputs = handler_inputs(handler, item, queue.name)
            except ValueError as e:  # an item without the fields its pipeline needs: that item fails, not the consumer
                raise StrategyError(str(e)) from None
            params = {"pipeline": handler.ref, "runbooks": cfg.runbooks, "inputs": inputs, "fields": values, "host_timeout": cfg.host_timeout}
            return await ctx.run_strategy(PipelineStrategy.NAME, f"{handler.ref} {key}", base_branch, params, key=f"item/{key}/{attempt}")
        task: m.TaskDef = handler
        values["config"] = cfg.runbooks["runbooks"][m.runbook_of(task.ref)]["config"]
        try:
            fields = task_fields(task, lambda t: render(t, values), base_branch, ctx._state.input.defaults.agent_env)
        except RenderError as e:  # an item its templates cannot take (a value no quoting holds): that item fails, not the consumer
            raise StrategyError(str(e)) from None
        return [await ctx.wait(await ctx.run(fields, key=f"item/{key}/{attempt}"))]

    async def _settle(self, queue: m.QueueDef, home: str, book: m.RunbookSet, key: str, task: asyncio.Task[list[InstanceResult]]) -> None:
        state = self._state
        record = state.items[key]
        item = self._items.get(key, {"id": key})
        try:
            results = task.result()
            ok = bool(results) and all(r.success for r in results)
            error = "" if ok else "; ".join(r.error or r.status for r in results) or "nothing ran"
        except StrategyError as e:
            ok, error = False, str(e)
        record.status, record.error, record.at = ("done" if ok else "failed"), truncate(error, 300) or "", workflow.now()
        await self._item_event("complete" if ok else "fail", key, error=record.error)
        if ok:
            state.fresh_settled.append(key)
        if not ok and record.attempts <= queue.max_retries:
            await self._item_event("requeue", key, error=record.error, reason=record.error)
        if ok or record.attempts <= queue.max_retries:
            self._items.pop(key, None)
            return
        if queue.on_exhaust == "escalate":
            await self._item_event("escalate", key, error=record.error, reason=record.error,
                                   message=f"queue {queue.name}: item {key} failed {record.attempts} time(s): {record.error}")
            answer = await self._ctx.ask(f"Queue {queue.name}: item {key} failed {record.attempts} time(s): {record.error}. "
                                         "retry: try it again; drop: give it up",
                                         choices=["retry", "drop"], key=f"item/{key}/{record.attempts}")
            record.status = "failed" if answer.choice == "retry" else "dropped"
            if answer.choice == "retry":
                record.attempts = 0
                await self._item_event("requeue", key, error=record.error, reason=f"{answer.by or 'a person'} chose retry")
            else:
                state.fresh_settled.append(key)
                await self._item_event("abandon", key, error=record.error, reason=f"{answer.by or 'a person'} chose drop")
            self._items.pop(key, None)
            return
        record.status = "dead" if queue.on_exhaust in ("dead", "wait") else "dropped"
        state.fresh_settled.append(key)
        if record.status == "dropped":
            await self._item_event("abandon", key, error=record.error, reason=f"out of retries ({record.attempts} attempts): dropped")
        self._items.pop(key, None)
        if record.status == "dead" and queue.dead.on_add is not None:
            try:
                command = render(queue.dead.on_add, {**item_values(item, queue.name), "reason": record.error, "config": book.runbooks[home].config})
            except RenderError as e:  # a reason no quoting holds: the hook is skipped, the consumer goes on
                workflow.logger.warning("queue %s: dead letter %s: %s", queue.name, key, e)
                return
            await workflow.execute_activity("run_runbook_hook", HookInput(repo=self._ctx._state.repo, command=command, base_branch=self._ctx.base_branch),
                                            start_to_close_timeout=timedelta(seconds=300), retry_policy=INFRA_RETRY, summary=f"dead letter {key}")

    async def _item_event(self, what: str, key: str, **values: Any) -> None:
        """An item's event as it happens: the runbook's `on_<worker|queue|item>_<event>` (otters'
        on_issue_requeue: `issue`, an item of queue issues), else `on_<event>` for otters' newer
        events. Its command reads the item's fields, the item under its name (`{issue.id}`) and
        as `item`, `id`, and `reason`, `error`; a failing one is logged."""
        consumer = self._consumer
        queue, home = consumer.queue.split(".")[-1], m.runbook_of(consumer.queue)
        runbook = self._book.runbooks[home]
        singular = item_name(queue)
        owners = (consumer.name, queue, singular)
        if what in m.ITEM_EVENTS:  # start, complete, fail: an item's own only (a runbook's on_start is its pipelines')
            template = next((runbook.events.by_owner[o][what] for o in owners if what in runbook.events.by_owner.get(o, {})), None)
        else:
            template = runbook.events.command(what, *owners)
        if template is None:
            return
        item = self._items.get(key, {"id": key})
        try:
            command = render(template, {"id": key, **item_values(item, queue), "reason": "", "error": "", **values, "config": runbook.config})
        except RenderError as e:
            workflow.logger.warning("queue %s: on_%s for %s: %s", queue, what, key, e)
            return
        try:
            await workflow.execute_activity("run_runbook_hook", HookInput(repo=self._ctx._state.repo, command=command, base_branch=self._ctx.base_branch),
                                            start_to_close_timeout=timedelta(seconds=300), retry_policy=INFRA_RETRY, summary=f"on_{what} {key}")
        except ActivityError as e:  # an event never fails the item, nor the worker
            workflow.logger.warning("queue %s: on_%s for %s could not run: %s", queue, what, key, e.cause or e)

    # -- steering: `orchard runbook worker stop` ---------------------------------------------

    _early_stop: str | None = None
    """A stop asked before this run of the chain had read its state (just after continuing as new)."""

    def check_steer(self, request: SteerRequest) -> None:
        if request.action != "stop":
            raise SteerRefused(f"a queue worker takes stop, not {request.action!r}")
        state = getattr(self, "_state", None)
        asked = state.stop_by if state is not None else self._early_stop
        if asked is not None:
            raise SteerRefused(f"the worker was already asked to stop (by {asked or 'someone'})")

    def steer(self, request: SteerRequest) -> str:
        if getattr(self, "_state", None) is None:
            self._early_stop = request.by
            return "the worker ends as soon as it has started"
        self._state.stop_by = request.by
        running = sum(1 for r in self._state.items.values() if r.status == "running")
        return f"the worker takes no more items; it ends when the {running} running finish" if running else "the worker ends now"
