"""The errors strategies raise and see. A `StrategyError` fails the run with its message; any
other exception in strategy code is a bug, and Temporal retries the workflow task until it is fixed."""

from __future__ import annotations

from workflows.sdk.models import InstanceResult

RUN_FAILED = "RunFailed"
"""The type of the failure a run ends with when no result it counts succeeded (the loop that never
verified, the pipeline that failed): Failed in Temporal, its RunResult carried in the failure's
details (totals first, as every run failure has them, then the result)."""


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
