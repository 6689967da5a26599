"""The workflow behind every strategy: one Temporal workflow type per strategy, named after it.

`workflow_class_for` builds the class when a Strategy subclass is defined; the run method
resolves the base commit once, hands `ctx` to the strategy and sums up what it returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from workflows.sdk.context import INFRA_RETRY, Context, RunState
from workflows.sdk.errors import StrategyError
from workflows.sdk.models import InstanceProgress, InstanceResult, ResolveInput, RunInput, RunProgress, RunResult, RunStatus

WORKFLOW_ATTR_PREFIX = "_OrchardWorkflow_"

SA_STRATEGY = SearchAttributeKey.for_keyword("OrchardStrategy")
SA_REPO = SearchAttributeKey.for_keyword("OrchardRepo")
SA_OUTCOME = SearchAttributeKey.for_keyword("OrchardOutcome")
SEARCH_ATTRIBUTES = (SA_STRATEGY, SA_REPO, SA_OUTCOME)
"""Orchard's custom search attributes: `orchard list` filters by them, so does the UI."""


def run_status(results: list[InstanceResult]) -> RunStatus:
    """From the results that count: shadows (`metadata.shadow`) are reported but never count."""
    counted = [r for r in results if not r.metadata.get("shadow")]
    successes = sum(1 for r in counted if r.success)
    if successes == 0:
        return "failed"
    return "success" if successes == len(counted) else "partial"


class StrategyWorkflow:
    """Base of the generated workflow classes; STRATEGY is the strategy class it runs."""

    STRATEGY: ClassVar[type]

    def __init__(self) -> None:
        self._ctx: Context | None = None
        self._phase = "starting"
        self._base_branch = ""
        self._started: datetime | None = None

    async def _execute(self, inp: RunInput) -> RunResult:
        self._base_branch = inp.base_branch
        self._started = workflow.now()
        strategy_name = self.STRATEGY.name()
        self._phase = "resolving base"
        base_commit: str = await workflow.execute_activity(
            "resolve_base",
            ResolveInput(repo=inp.repo, branch=inp.base_branch),
            result_type=str,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=INFRA_RETRY,
        )
        ctx = Context(
            RunState(
                run_id=workflow.info().workflow_id,
                strategy=strategy_name,
                repo=inp.repo,
                base_branch=inp.base_branch,
                base_commit=base_commit,
                defaults=inp.defaults,
                max_parallel=inp.max_parallel,
            )
        )
        self._ctx = ctx
        strategy = self.STRATEGY(params=inp.params, defaults=inp.defaults)
        self._phase = "running"
        try:
            results = list(await strategy.execute(inp.prompt, inp.base_branch, ctx))
        except BaseException:
            # Cancellation or failure: stop every agent still running and let it clean up.
            self._phase = "stopping"
            await ctx.cancel_all()
            raise
        if not all(isinstance(r, InstanceResult) for r in results):
            raise StrategyError(f"strategy {strategy_name!r} must return a list of InstanceResult")
        result = self._summary(ctx, results, workflow.now(), list(ctx.progress.values()))
        workflow.upsert_search_attributes([SA_OUTCOME.value_set(result.status)])
        self._phase = "done"
        return result

    def _summary(
        self, ctx: Context, results: list[InstanceResult], ended: datetime, spent: Sequence[InstanceProgress | InstanceResult]
    ) -> RunResult:
        """The run's result: `results` as the strategy gave them, tokens and cost of `spent`."""
        assert self._started is not None
        return RunResult(
            run_id=ctx.run_id,
            strategy=self.STRATEGY.name(),
            status=run_status(results),
            base_branch=self._base_branch,
            base_commit=ctx.base_commit,
            instances=results,
            duration_seconds=(ended - self._started).total_seconds(),
            input_tokens=sum(p.input_tokens for p in spent),
            output_tokens=sum(p.output_tokens for p in spent),
            cost_usd=round(sum(p.cost_usd for p in spent), 6),
            cost_estimated=any(p.cost_estimated for p in spent),
            instances_run=ctx.instances_run(),
        )

    @workflow.query
    def progress(self) -> RunProgress:
        ctx = self._ctx
        published = None
        if ctx and ctx.published is not None and ctx.published_at is not None:
            published = self._summary(ctx, ctx.published, ctx.published_at, ctx.published)
        return RunProgress(
            run_id=workflow.info().workflow_id,
            strategy=self.STRATEGY.name(),
            phase=ctx.phase if ctx and self._phase == "running" else self._phase,
            base_commit=ctx.base_commit if ctx else None,
            instances=list(ctx.progress.values()) if ctx else [],
            published=published,
        )


def workflow_class_for(strategy_cls: type) -> type:
    """A Temporal workflow class running `strategy_cls`, named `<strategy name>` in Temporal."""
    class_name = f"{WORKFLOW_ATTR_PREFIX}{strategy_cls.__name__}"

    async def run(self: StrategyWorkflow, input: RunInput) -> RunResult:
        return await self._execute(input)

    run.__annotations__ = {"input": RunInput, "return": RunResult}
    run.__qualname__ = f"{class_name}.run"
    run.__module__ = strategy_cls.__module__
    namespace: dict[str, Any] = {
        "run": workflow.run(run),
        "STRATEGY": strategy_cls,
        "__module__": strategy_cls.__module__,
        "__qualname__": class_name,
    }
    cls = type(class_name, (StrategyWorkflow,), namespace)
    return workflow.defn(name=strategy_cls.name(), failure_exception_types=[StrategyError])(cls)
