"""A person steering a running strategy (`orchard loop stop|nudge|extend`, `orchard runbook worker
stop`): a Temporal update the runtime takes, validator first, for a strategy that is Steerable.

The Strategy base grows no hook for it: a strategy that takes steering (a loop, a queue worker, or
one of a user's own) implements this protocol's two methods, and the runtime refuses every other
run's steering with one line.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from workflows.sdk.errors import SteerRefused
from workflows.sdk.models import SteerRequest


@runtime_checkable
class Steerable(Protocol):
    """What a strategy a person steers while it runs implements."""

    def check_steer(self, request: SteerRequest) -> None:
        """Refuse (raise SteerRefused) a request this strategy cannot take now; runs in the update's
        validator, so it must not change anything."""

    def steer(self, request: SteerRequest) -> str:
        """Take a request the validator let through; returns what it will do, for the person."""


def check_steer(strategy: Any, name: str, request: SteerRequest) -> None:
    """The update's validator: the strategy's own, or a refusal for a strategy that takes no steering."""
    if not isinstance(strategy, Steerable):
        raise SteerRefused(f"a {name} run cannot be steered (`{request.action}` is for loop runs)")
    strategy.check_steer(request)


def steer(strategy: Any, name: str, request: SteerRequest) -> str:
    if not isinstance(strategy, Steerable):
        raise SteerRefused(f"a {name} run cannot be steered")
    return strategy.steer(request)
