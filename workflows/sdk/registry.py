"""Strategies by name, for strategies that run others (`ctx.run_strategy("best-of-n", ...)`).

`register_strategy(name, factory)` makes a strategy available to `get_strategy(name)`; a factory
is a Strategy subclass or any callable taking `(params, defaults)` and returning a Strategy.
Every built-in is registered under its own name (workflows/strategies/).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from workflows.sdk.errors import StrategyError

if TYPE_CHECKING:  # the context resolves names here, and Strategy's module imports the context
    from workflows.sdk.strategy import Strategy

StrategyFactory = Callable[..., "Strategy"]

_registered: dict[str, StrategyFactory] = {}


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make `factory` available as `name`; a name is registered once. Registering the same
    definition again is a no-op: the workflow sandbox re-imports strategy files for every run."""
    known = _registered.get(name)
    if known is not None and _definition(known) != _definition(factory):
        raise StrategyError(f"strategy {name!r} is already registered")
    _registered[name] = factory


def _definition(factory: StrategyFactory) -> tuple[str, str]:
    return getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory))


def get_strategy(name: str) -> StrategyFactory:
    """The factory registered as `name`."""
    try:
        return _registered[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; registered: {', '.join(sorted(_registered))}") from None
