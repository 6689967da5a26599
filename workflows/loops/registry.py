"""Loop modes by name: `create_decider({"mode": "hybrid", "base_iterations": 4})` makes the mode's
decider.

The built-in modes (fixed, hybrid, ralph, custom) are registered on import, by the path of their
class: looked up where they are asked for, so a loop's run gets its sandbox's own copy. A factory takes the
mode's settings (the config without "mode") and returns a LoopDecider; when it has a `Settings`
pydantic model (the built-in classes do), `mode_settings` lists that model's fields. The registry
is the SDK's, one per process (workflows/sdk/registry.py): a mode registered by the worker's
`--module` is known inside every loop's run. `register_loop_strategy`, the old name of
`register_decider`, stays importable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflows.loops.modes import custom, fixed, hybrid, ralph  # noqa: F401 (loaded with the loop's workflow, not in one of its tasks)
from workflows.loops.modes.base import LoopDecider
from workflows.sdk.errors import ConfigError
from workflows.sdk.registry import Registry, registry

DeciderFactory = Callable[[dict[str, Any]], LoopDecider]

_modes: Registry[DeciderFactory] = registry("loop mode", ConfigError, "available")
_BUILT_IN = {
    "fixed": "workflows.loops.modes.fixed:FixedDecider",
    "hybrid": "workflows.loops.modes.hybrid:HybridDecider",
    "ralph": "workflows.loops.modes.ralph:RalphDecider",
    "custom": "workflows.loops.modes.custom:CustomDecider",
}


def register_decider(mode: str, factory: DeciderFactory | str) -> None:
    """Make `factory` (taking the mode's settings, returning a LoopDecider; or the class at
    `"module:Class"`) the decider of loop mode `mode`."""
    _modes.register(mode, factory)


register_loop_strategy = register_decider
"""The old name of register_decider, kept for code written before the rename."""


def available_modes() -> list[str]:
    return _modes.names()


def mode_settings(mode: str) -> list[str]:
    """The setting names `mode` accepts, sorted (none known for a factory without `Settings`)."""
    settings = getattr(_modes.get(mode), "Settings", None)
    return sorted(settings.model_fields) if settings is not None else []


def create_decider(config: dict[str, Any]) -> LoopDecider:
    """The decider for `{"mode": ..., **settings}`; a ConfigError for an unknown mode or a bad setting."""
    if "mode" not in config:
        raise ConfigError(f"a loop config needs a mode; available: {', '.join(available_modes())}")
    settings = dict(config)
    return _modes.get(settings.pop("mode"))(settings)


for _mode, _where in _BUILT_IN.items():
    register_decider(_mode, _where)
