"""The errors strategies raise and see. A `StrategyError` fails the run with its message; any
other exception in strategy code is a bug, and Temporal retries the workflow task until it is fixed."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from workflows.sdk.models import InstanceResult, RunResult

RUN_FAILED = "RunFailed"
"""The type of the failure a run ends with when no result it counts succeeded (the loop that never
verified, the pipeline that failed): Failed in Temporal, its RunResult carried in the failure's
details (totals first, as every run failure has them, then the result)."""


def carried_result(cause: BaseException | None) -> RunResult | None:
    """The result a failed run's failure carries (RUN_FAILED), for whoever reads it: a parent, the
    client, a test; None for any other failure."""
    if isinstance(cause, ApplicationError) and cause.type == RUN_FAILED and len(cause.details) > 1:
        return RunResult.model_validate(cause.details[1])
    return None


class StrategyError(Exception):
    """A strategy-level failure: the run fails with this message (no workflow-task retry)."""


class ConfigError(StrategyError):
    """A strategy parameter is unknown or has a bad value."""


OrchestratorError = StrategyError
"""Pitaya's base of its strategy errors (`from pitaya.exceptions import OrchestratorError`)."""


@dataclass(frozen=True)
class TaskFailure:
    """What Pitaya's `TaskFailed.failure` holds: the failed instance's key, error type, message and result."""

    key: str
    error_type: str
    message: str
    result: InstanceResult | None


class InstanceFailed(StrategyError):
    """Raised by ctx.wait (as TaskFailed) and ctx.wait_all (as AggregateTaskFailed) when an instance
    failed; the result is attached."""

    def __init__(self, result: InstanceResult, results: list[InstanceResult] | None = None):
        reason = result.error or result.status
        super().__init__(f"instance {result.key!r} {result.status}: {reason}")
        self.result = result
        self.results = results or [result]

    @property
    def failure(self) -> TaskFailure:
        """Pitaya's spelling of the failed result (`except TaskFailed as e: e.failure.result`)."""
        return TaskFailure(self.result.key, self.result.error_type or "unknown", self.result.error or "", self.result)

    @property
    def keys(self) -> list[str]:
        """The keys of the failed instances (Pitaya's `AggregateTaskFailed.keys`)."""
        return [r.key for r in self.results if not r.success]


class TaskFailed(InstanceFailed):
    """`await ctx.wait(h)`: its instance failed (Pitaya's name; an InstanceFailed)."""


class AggregateTaskFailed(InstanceFailed):
    """`await ctx.wait_all(hs)`: some of its instances failed (Pitaya's name; an InstanceFailed, not
    a TaskFailed, as in Pitaya); `.result` is the first failure, `.keys` every failed key."""


class NoViableCandidates(StrategyError):
    """A strategy found no result worth returning (Pitaya's name): the run fails with this message."""

    def __init__(self, message: str = "no viable candidates"):
        super().__init__(message)


class ContextAttributeError(AttributeError):
    """A strategy asked ctx for what Orchard's ctx does not have (Pitaya's `ctx._orchestrator`): the
    message says what to use instead. Not a StrategyError: like any bug in strategy code the run
    waits, showing the line, and resumes where it was once the file is fixed and its worker restarted.
    An AttributeError, so `getattr(ctx, "_x", default)` and `hasattr` answer as for any missing attribute."""


class SteerRefused(ValueError):
    """A steering update's validator refuses it: the run is unchanged and the line reaches the person."""
