"""The workflow behind every strategy: one Temporal workflow type per strategy, named after it.

`workflow_class_for` builds the class when a Strategy subclass is defined; the run method
resolves the base commit once per chain, hands `ctx` to the strategy and sums up what it
returned. Every ending sets the run's outcome (OrchardOutcome); a person's answers arrive
through the `answer` update, checked by its validator before the run takes them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.sdk import steering
from workflows.sdk.budget import SPEND_SIGNAL, InstanceSpend
from workflows.sdk.context import Context, RunState
from workflows.sdk.entities import LEASE_SIGNAL, LeaseEvent
from workflows.sdk.errors import RUN_FAILED, SteerRefused, StrategyError
from workflows.sdk.events import EVENT_SIGNAL, Events
from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.leases import Leases
from workflows.sdk.models import (
    PROGRESS_INSTANCES,
    RESULT_INSTANCES,
    TRAIL_ROWS,
    Answer,
    AnswerRequest,
    InstanceResult,
    ResolveInput,
    RunInput,
    RunProgress,
    RunResult,
    RunStatus,
    RunTotals,
    SteerRequest,
    TaskDefaults,
)
from workflows.sdk.naming import StrategyName
from workflows.sdk.notify import NotifyEvent
from workflows.sdk.questions import QuestionBook
from workflows.sdk.quota import QUOTA_WAIT_SIGNAL, QuotaWait
from workflows.sdk.trail import as_trail_row
from workflows.sdk.visibility import SA_OUTCOME

WORKFLOW_ATTR_PREFIX = "_OrchardWorkflow_"
FAILED_RUNS_FAIL = "failed-runs-fail"
"""The patch under which a run whose results all failed ends Failed in Temporal (before it: Completed)."""
FAILURE_LIMIT = 1000


def run_status(results: list[InstanceResult]) -> RunStatus:
    """From the results that count: shadows (`variant.shadow`) are reported but never count."""
    counted = [r for r in results if not r.shadow]
    successes = sum(1 for r in counted if r.success)
    if successes == 0:
        return "stopped" if counted and all(r.status == "stopped" for r in counted) else "failed"
    return "success" if successes == len(counted) else "partial"


def failure_message(results: list[InstanceResult]) -> str:
    """Why a run failed, in one line: what its failed results say (the first three different reasons)."""
    reasons = list(dict.fromkeys(r.error or r.status for r in results if not r.success and not r.shadow))
    if not reasons:
        return "the strategy returned no results"
    said = "; ".join(reasons[:3]) + (f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else "")
    return said if len(said) <= FAILURE_LIMIT else said[: FAILURE_LIMIT - 1] + "…"


def totals_of(results: list[InstanceResult]) -> RunTotals:
    return RunTotals(
        instances_run=len(results),
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        cost_usd=round(sum(r.cost_usd for r in results), 6),
        cost_estimated=any(r.cost_estimated for r in results),
    )


STEERABLE_PHASES = ("starting", "resolving base", "running")
"""Before it runs, the strategy keeps what it was asked (a loop, a queue worker); after, nothing is taken."""


class RunnableStrategy(Protocol):
    """What the runtime asks of a strategy class (workflows/sdk/strategy.py's Strategy, which imports
    this module): made from a run's parameters, it executes."""

    name: ClassVar[StrategyName]
    """`cls.name()`: its name (workflows/sdk/naming.py: also text, Pitaya's `self.name`)."""

    def __init__(self, params: dict[str, Any] | None = None, defaults: TaskDefaults | None = None) -> None: ...

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]: ...


class StrategyWorkflow:
    """Base of the generated workflow classes; STRATEGY is the strategy class it runs."""

    STRATEGY: ClassVar[type[RunnableStrategy]]

    def __init__(self, inp: RunInput) -> None:
        self._ctx: Context | None = None
        # Made here, not when the run starts: a steer can arrive in the run's first workflow task
        # (a chain's next run just started), and the strategy keeps it until it has read its state.
        self._strategy = self.STRATEGY(params=inp.params, defaults=inp.defaults)
        self._phase = "starting"
        self._questions = QuestionBook(inp.chain.questions if inp.chain else None)
        self._leases = Leases()
        self._events = Events()

    async def _execute(self, inp: RunInput) -> RunResult:
        chain = inp.chain
        started = chain.started_at if chain else workflow.now()
        strategy_name = self.STRATEGY.name()
        if chain is not None:  # a run continued as new keeps the commit its chain started from
            base_commit: str = chain.base_commit
        elif inp.base_commit:  # resolved by the client that asked for the run
            base_commit = inp.base_commit
        else:
            self._phase = "resolving base"
            base_commit = await workflow.execute_activity(
                "resolve_base",
                ResolveInput(repo=inp.repo, branch=inp.base_branch),
                result_type=str,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=INFRA_RETRY,
            )
        ctx = Context(RunState(run_id=workflow.info().workflow_id, strategy=strategy_name, base_commit=base_commit, input=inp, started_at=started),
                      self._questions, self._leases, self._events)
        self._ctx = ctx
        strategy = self._strategy
        self._phase = "running"
        try:
            results = list(await strategy.execute(inp.prompt, inp.base_branch, ctx))
            if not all(isinstance(r, InstanceResult) for r in results):
                raise StrategyError(f"strategy {strategy_name!r} must return a list of InstanceResult")
        except workflow.ContinueAsNewError:
            raise
        except asyncio.CancelledError:
            await self._stop(ctx, "canceled")
            await self._tell_end(ctx, "canceled", None, None)
            raise
        except StrategyError as e:
            if workflow.cancellation_reason() is not None:  # e.g. a child that ended canceled with this run
                await self._stop(ctx, "canceled")
                await self._tell_end(ctx, "canceled", None, None)
                raise asyncio.CancelledError(f"the run was canceled ({e})") from e
            budget = self._budget_note(ctx)  # a strategy that could not go on without what the budget kept from starting
            await self._stop(ctx, "budget" if budget else "failed")
            message = f"the run's budget is reached ({budget}): {e}" if budget else str(e)
            await self._tell_end(ctx, "budget" if budget else "failed", message, budget)
            # What the run spent travels with its failure, so a parent counts a failed child's cost.
            raise ApplicationError(message, ctx.totals().model_dump(mode="json"), type=type(e).__name__, non_retryable=True) from e
        except BaseException:
            # A bug in the strategy: Temporal retries the workflow task until the code is fixed.
            self._phase = "stopping"
            await ctx.cancel_all()
            raise
        result = self._summary(ctx, results, workflow.now(), ctx.totals())
        result.budget = self._budget_note(ctx) or None
        self._end("budget" if result.budget else result.status)
        await self._tell_end(ctx, "budget" if result.budget else result.status, failure_message(results) if result.status == "failed" else None, result.budget)
        if result.status == "failed" and workflow.patched(FAILED_RUNS_FAIL):
            # Failed in Temporal too (its UI, `temporal workflow list`), with the result the client
            # shows and a parent reads (children.py) carried in the failure.
            raise ApplicationError(failure_message(results), ctx.totals().model_dump(mode="json"), result.model_dump(mode="json"),
                                   type=RUN_FAILED, non_retryable=True)
        return result

    @staticmethod
    async def _tell_end(ctx: Context, outcome: str, error: str | None, budget: str | None) -> None:
        """Tell the run's `notify:` targets how it ended, and wait until they were told (and its parent of its last quota wait)."""
        await ctx.parent.sent()
        if ctx.notifier.active:
            totals = ctx.totals()
            event: NotifyEvent = "budget" if outcome == "budget" else "failed" if outcome == "failed" else "ended"
            ctx.notifier.tell(event, "end", outcome=outcome, error=error, cost_usd=totals.cost_usd, cost_estimated=totals.cost_estimated, budget=budget)
            await ctx.notifier.drain()

    @staticmethod
    def _budget_note(ctx: Context) -> str:
        """`spent $4.91 of $5` when the run's budget stopped instances (its own, or a child's:
        a child gets what is left of the run's, so the run's is spent too)."""
        guard = ctx.budget
        if guard.budget is not None and not guard.stopped and ctx.children() and guard.reached(ctx.totals()):
            guard.stopped = 1
        return guard.final(ctx.totals())

    async def _stop(self, ctx: Context, outcome: str) -> None:
        """Stop every agent and child still running, let them clean up, and record the outcome."""
        self._phase = "stopping"
        await ctx.cancel_all()
        await ctx.parent.sent()  # a child run's parent hears it no longer waits for quota
        self._end(outcome)

    def _end(self, outcome: str) -> None:
        self._phase = "done" if outcome in ("success", "partial") else outcome
        workflow.upsert_search_attributes([SA_OUTCOME.value_set(outcome)])
        if self._questions.open_questions():  # nobody will answer these now
            self._questions.close_all()

    def _summary(self, ctx: Context, results: list[InstanceResult], ended: datetime, totals: RunTotals) -> RunResult:
        """The run's result: `results` as the strategy gave them, and what the run spent."""
        listed, rest = results[:RESULT_INSTANCES], results[RESULT_INSTANCES:]
        return RunResult(
            run_id=ctx.run_id,
            strategy=self.STRATEGY.name(),
            status=run_status(results),
            base_branch=ctx.base_branch,
            base_commit=ctx.base_commit,
            instances=listed,
            omitted=dict(Counter(r.status for r in rest)),
            duration_seconds=(ended - ctx.started_at).total_seconds(),
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
            cost_estimated=totals.cost_estimated,
            instances_run=totals.instances_run,
            questions=list(self._questions.state.answers),
            children=ctx.children(),
            runs=ctx.runs,
            selections=list(ctx.selections),
            trail=[as_trail_row(step) for step in ctx.trail] if ctx.keep_trail else [],
        )

    @workflow.query
    def progress(self) -> RunProgress:
        ctx = self._ctx
        published = None
        if ctx and ctx.published is not None and ctx.published_at is not None:
            published = self._summary(ctx, ctx.published, ctx.published_at, totals_of(ctx.published))
        everyone = list(ctx.progress.values()) if ctx else []
        if len(everyone) > PROGRESS_INSTANCES:  # the running ones first, then in the order asked for
            everyone.sort(key=lambda p: p.status != "running")
        listed, unlisted = everyone[:PROGRESS_INSTANCES], everyone[PROGRESS_INSTANCES:]
        return RunProgress(
            run_id=workflow.info().workflow_id,
            strategy=self.STRATEGY.name(),
            phase=ctx.phase if ctx and self._phase == "running" else self._phase,
            base_commit=ctx.base_commit if ctx else None,
            instances=listed,
            unlisted=dict(Counter(p.status for p in unlisted)),
            batch=ctx.running_batch if ctx else None,
            published=published,
            questions=self._questions.open_questions(),
            children=ctx.children() if ctx else [],
            runs=ctx.runs if ctx else 1,
            earlier=dict(ctx.earlier) if ctx else {},
            trail=[as_trail_row(step) for step in ctx.trail[-TRAIL_ROWS:]] if ctx else [],
            graph=list(ctx.graph) if ctx else [],
            trail_total=len(ctx.trail) if ctx else 0,
            quota_until=ctx.quota_until() if ctx else None,
            budget_wait=ctx.shared.name if ctx and ctx.shared.until else None,
            budget_until=ctx.shared.until if ctx else None,
        )

    @workflow.update
    def answer(self, request: AnswerRequest) -> Answer:
        """A person's answer to an open question (`orchard answer RUN CHOICE`)."""
        return self._questions.take(request)

    @answer.validator
    def check_answer(self, request: AnswerRequest) -> None:
        """Refuses an answer to no open question, to a question already answered, or not offered."""
        self._questions.check(request)

    @workflow.signal(name=LEASE_SIGNAL)
    def lease_event(self, event: LeaseEvent) -> None:
        """A lock or semaphore granting this run its lease, or taking it back (ctx.hold)."""
        self._leases.take(event)

    @workflow.signal(name=SPEND_SIGNAL)
    def spend(self, spend: InstanceSpend) -> None:
        """A running instance's live spend, while the run has a budget (workflows/sdk/budget.py)."""
        if self._ctx is not None:
            self._ctx.take_spend(spend)

    @workflow.signal(name=QUOTA_WAIT_SIGNAL)
    def quota_wait(self, wait: QuotaWait) -> None:
        """A batch of this run's instances, or a child run, waits for a provider's limit (or no longer does)."""
        if self._ctx is not None:
            self._ctx.take_quota_wait(wait)

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: str) -> None:
        """An event another run emitted (ctx.wait_for_event)."""
        self._events.take(event)

    @workflow.update
    def steer(self, request: SteerRequest) -> str:
        """A person steering the run (`orchard loop stop|nudge|extend RUN`); says what will happen."""
        return steering.steer(self._strategy, self._strategy.name(), request)

    @steer.validator
    def check_steer(self, request: SteerRequest) -> None:
        """Refuses what the strategy cannot take now (the run is unchanged)."""
        if self._phase not in STEERABLE_PHASES:
            raise SteerRefused(f"the run is {self._phase}: it cannot be steered now")
        steering.check_steer(self._strategy, self._strategy.name(), request)


def workflow_class_for(strategy_cls: type[RunnableStrategy]) -> type[StrategyWorkflow]:
    """A Temporal workflow class running `strategy_cls`, named `<strategy name>` in Temporal."""
    class_name = f"{WORKFLOW_ATTR_PREFIX}{strategy_cls.__name__}"

    def init(self: StrategyWorkflow, input: RunInput) -> None:
        StrategyWorkflow.__init__(self, input)

    async def run(self: StrategyWorkflow, input: RunInput) -> RunResult:
        return await self._execute(input)

    for method, name in ((init, "__init__"), (run, "run")):
        method.__annotations__ = {"input": RunInput, "return": None if name == "__init__" else RunResult}
        method.__name__, method.__qualname__ = name, f"{class_name}.{name}"
        method.__module__ = strategy_cls.__module__
    namespace: dict[str, Any] = {
        "__init__": workflow.init(init),
        "run": workflow.run(run),
        "STRATEGY": strategy_cls,
        "__module__": strategy_cls.__module__,
        "__qualname__": class_name,
    }
    cls = type(class_name, (StrategyWorkflow,), namespace)
    return workflow.defn(name=strategy_cls.name(), failure_exception_types=[StrategyError])(cls)
