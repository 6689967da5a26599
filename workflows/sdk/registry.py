"""Registries by name: strategies, for strategies that run others (`ctx.run_strategy("best-of-n", ...)`),
and loop modes (workflows/loops/registry.py).

`register_strategy(name, factory)` makes a strategy available to `get_strategy(name)`; a factory
is a Strategy subclass or any callable taking `(params, defaults)` and returning a Strategy.
Every built-in is known under its own name (workflows/strategies/), its module imported when asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from workflows.sdk.errors import StrategyError

if TYPE_CHECKING:  # the context resolves names here, and Strategy's module imports the context
    from workflows.sdk.strategy import Strategy

StrategyFactory = Callable[..., "Strategy"]
F = TypeVar("F")


class Registry(Generic[F]):
    """Factories by name. Registering the same definition again is a no-op (Temporal's sandbox
    re-imports the modules that register); another one under a taken name is an error."""

    def __init__(self, kind: str, unknown: type[StrategyError] = StrategyError, listed: str = "registered",
                 builtins: Callable[[], Mapping[str, F]] = dict):
        self.kind, self.unknown, self.listed = kind, unknown, listed
        self._factories: dict[str, F] = {}
        self._builtins = builtins
        """Names known before anything registers (looked up lazily: they import their modules)."""

    def register(self, name: str, factory: F) -> None:
        known = self._factories.get(name) or self._builtins().get(name)
        if known is not None and _definition(known) != _definition(factory):
            raise StrategyError(f"{self.kind} {name!r} is already registered ({_definition(known)[1]})")
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted({*self._factories, *self._builtins()})

    def get(self, name: Any) -> F:
        factory = None
        if isinstance(name, str):
            builtins = self._builtins()
            factory = self._factories.get(name) or (builtins[name] if name in builtins else None)
        if factory is None:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.unknown(f"unknown {self.kind} {name!r}; {self.listed}: {', '.join(self.names())}{hint}")
        return factory


def _definition(factory: Any) -> tuple[str, str]:
    return getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory))


def _builtin_strategies() -> Mapping[str, StrategyFactory]:
    from workflows.strategies import BUILTIN_STRATEGIES  # the built-ins import this module

    return BUILTIN_STRATEGIES


_strategies: Registry[StrategyFactory] = Registry("strategy", builtins=_builtin_strategies)


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make `factory` available as `name`."""
    _strategies.register(name, factory)


def get_strategy(name: str) -> StrategyFactory:
    """The factory registered as `name`."""
    return _strategies.get(name)
