"""The errors strategies raise and see. A `StrategyError` fails the run with its message; any
other exception in strategy code is a bug, and Temporal retries the workflow task until it is fixed."""

from __future__ import annotations

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


class InstanceFailed(StrategyError):
    """Raised by ctx.wait / ctx.wait_all when an instance failed; the result is attached."""

    def __init__(self, result: InstanceResult, results: list[InstanceResult] | None = None):
        reason = result.error or result.status
        super().__init__(f"instance {result.key!r} {result.status}: {reason}")
        self.result = result
        self.results = results or [result]


class SteerRefused(ValueError):
    """A steering update's validator refuses it: the run is unchanged and the line reaches the person."""
