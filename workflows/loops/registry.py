"""Loop modes by name: `create({"mode": "hybrid", "base_iterations": 4})` makes the strategy.

The built-in modes (fixed, hybrid, ralph, custom) are registered on import. A factory takes the
mode's settings (the config without "mode") and returns a LoopStrategy; when it has a `Settings`
pydantic model (the built-in classes do), `mode_settings` lists that model's fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from workflows.loops.modes.base import LoopStrategy
from workflows.loops.modes.custom import CustomLoopStrategy
from workflows.loops.modes.fixed import FixedLoopStrategy
from workflows.loops.modes.hybrid import HybridLoopStrategy
from workflows.loops.modes.ralph import RalphLoopStrategy
from workflows.sdk.errors import ConfigError, StrategyError

LoopStrategyFactory = Callable[[dict[str, Any]], LoopStrategy]

_factories: dict[str, LoopStrategyFactory] = {}


def register_loop_strategy(mode: str, factory: LoopStrategyFactory) -> None:
    """Make `factory` available as `mode`. Registering the same definition again is a no-op
    (Temporal's sandbox re-imports this module); another one under a taken mode is an error."""
    known = _factories.get(mode)
    if known is not None and _definition(known) != _definition(factory):
        raise StrategyError(f"loop mode {mode!r} is already registered ({_definition(known)[1]})")
    _factories[mode] = factory


def _definition(factory: LoopStrategyFactory) -> tuple[str, str]:
    return getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory))


def available_modes() -> list[str]:
    return sorted(_factories)


def _factory(mode: Any) -> LoopStrategyFactory:
    factory = _factories.get(mode) if isinstance(mode, str) else None
    if factory is None:
        close = difflib.get_close_matches(str(mode), available_modes(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown loop mode {mode!r}; available: {', '.join(available_modes())}{hint}")
    return factory


def mode_settings(mode: str) -> list[str]:
    """The setting names `mode` accepts, sorted (none known for a factory without `Settings`)."""
    settings = getattr(_factory(mode), "Settings", None)
    return sorted(settings.model_fields) if settings is not None else []


def create(config: dict[str, Any]) -> LoopStrategy:
    """The strategy for `{"mode": ..., **settings}`; a ConfigError for an unknown mode or a bad setting."""
    if "mode" not in config:
        raise ConfigError(f"a loop config needs a mode; available: {', '.join(available_modes())}")
    settings = dict(config)
    return _factory(settings.pop("mode"))(settings)


register_loop_strategy("fixed", FixedLoopStrategy)
register_loop_strategy("hybrid", HybridLoopStrategy)
register_loop_strategy("ralph", RalphLoopStrategy)
register_loop_strategy("custom", CustomLoopStrategy)
