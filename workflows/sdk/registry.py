"""Registries by name: strategies, for strategies that run others (`ctx.run_strategy("best-of-n", ...)`),
and one per kind a feature asks for (loop modes: workflows/loops/registry.py).

`register_strategy(name, factory)` makes a strategy available to `get_strategy(name)`; a factory
is a Strategy subclass or any callable taking `(params, defaults)` and returning a Strategy. The SDK
knows no strategy of its own: the built-ins register themselves (workflows/strategies/__init__.py)
by the path of their class, `"module:Class"`, imported when the name is first asked for.

The registries are the process's, shared by the worker and every run's sandbox (this module passes
through the workflow sandbox: orchard_common/sandbox.py), so a name registered outside a run is
known inside it. A factory registered by its path is imported where it is asked for: inside a run,
into the run's sandbox, which checks it.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from temporalio import workflow

from workflows.sdk.errors import StrategyError

StrategyFactory = Callable[..., Any]
"""A Strategy subclass, or a callable taking `(params, defaults)` and returning a Strategy (the
registry imports no strategy module, the Strategy base's included: the context asks it for names)."""
F = TypeVar("F")


class Registry(Generic[F]):
    """Factories by name. Registering the same definition again is a no-op (Temporal's sandbox
    re-imports the modules that register); another one under a taken name is an error. A factory
    may be given as `"module:attribute"`, imported when it is asked for."""

    def __init__(self, kind: str, unknown: type[StrategyError] = StrategyError, listed: str = "registered"):
        self.kind, self.unknown, self.listed = kind, unknown, listed
        self._factories: dict[str, F | str] = {}

    def register(self, name: str, factory: F | str) -> None:
        known = self._factories.get(name)
        if known is not None and _definition(known) != _definition(factory):
            raise StrategyError(f"{self.kind} {name!r} is already registered ({_definition(known)[1]})")
        self._factories.setdefault(name, factory)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: Any) -> F:
        factory = self._factories.get(name) if isinstance(name, str) else None
        if factory is None:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.unknown(f"unknown {self.kind} {name!r}; {self.listed}: {', '.join(self.names())}{hint}")
        return _imported(factory) if isinstance(factory, str) else factory


def _definition(factory: Any) -> tuple[str, str]:
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        return module, attribute
    return getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory))


def _imported(path: str) -> Any:
    """The factory at `path`, imported where it is asked for. Inside a run's sandbox, asking for a
    name (a child strategy by name) may import its module during the run: deliberately, so the
    sandbox's notice of a late import is not given."""
    module, _, attribute = path.partition(":")
    with workflow.unsafe.sandbox_import_notification_policy(workflow.SandboxImportNotificationPolicy.SILENT):
        found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


_registries: dict[str, Registry[Any]] = {}


def registry(kind: str, unknown: type[StrategyError] = StrategyError, listed: str = "registered") -> Registry[Any]:
    """The process's registry of `kind`: the same one however often the module asking for it is
    imported (a run's sandbox imports the features' modules again for every run)."""
    return _registries.setdefault(kind, Registry(kind, unknown, listed))


_strategies: Registry[StrategyFactory] = registry("strategy")


def register_strategy(name: str, factory: StrategyFactory | str) -> None:
    """Make `factory` (or the class at `"module:Class"`) available as `name`."""
    _strategies.register(name, factory)


def get_strategy(name: str) -> StrategyFactory:
    """The factory registered as `name`."""
    return _strategies.get(name)
