"""Loop modes by name: `create({"mode": "hybrid", "base_iterations": 4})` makes the strategy.

The built-in modes (fixed, hybrid, ralph, custom) are registered on import. A factory takes the
mode's settings (the config without "mode") and returns a LoopStrategy; when it has a `Settings`
pydantic model (the built-in classes do), `mode_settings` lists that model's fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflows.loops.modes.base import LoopStrategy
from workflows.loops.modes.custom import CustomLoopStrategy
from workflows.loops.modes.fixed import FixedLoopStrategy
from workflows.loops.modes.hybrid import HybridLoopStrategy
from workflows.loops.modes.ralph import RalphLoopStrategy
from workflows.sdk.errors import ConfigError
from workflows.sdk.registry import Registry

LoopStrategyFactory = Callable[[dict[str, Any]], LoopStrategy]

_modes: Registry[LoopStrategyFactory] = Registry("loop mode", ConfigError, "available")


def register_loop_strategy(mode: str, factory: LoopStrategyFactory) -> None:
    """Make `factory` (taking the mode's settings, returning a LoopStrategy) available as `mode`."""
    _modes.register(mode, factory)


def available_modes() -> list[str]:
    return _modes.names()


def mode_settings(mode: str) -> list[str]:
    """The setting names `mode` accepts, sorted (none known for a factory without `Settings`)."""
    settings = getattr(_modes.get(mode), "Settings", None)
    return sorted(settings.model_fields) if settings is not None else []


def create(config: dict[str, Any]) -> LoopStrategy:
    """The strategy for `{"mode": ..., **settings}`; a ConfigError for an unknown mode or a bad setting."""
    if "mode" not in config:
        raise ConfigError(f"a loop config needs a mode; available: {', '.join(available_modes())}")
    settings = dict(config)
    return _modes.get(settings.pop("mode"))(settings)


register_loop_strategy("fixed", FixedLoopStrategy)
register_loop_strategy("hybrid", HybridLoopStrategy)
register_loop_strategy("ralph", RalphLoopStrategy)
register_loop_strategy("custom", CustomLoopStrategy)
