"""Orchard's strategy SDK: write a strategy by subclassing `Strategy`.

    from workflows import Strategy, StrategyConfig, InstanceResult

Strategies compose through `ctx.run_strategy(name_or_class, ...)` (a child workflow);
`register_strategy(name, factory)` and `get_strategy(name)` name them; loop modes are
`workflows.loops.registry.register_loop_strategy(mode, factory)`.
"""

from workflows import strategies as _builtins  # noqa: F401  (registers the built-ins)
from workflows.sdk.children import ChildFailed
from workflows.sdk.context import Context, Handle
from workflows.sdk.errors import ConfigError, InstanceFailed, SteerRefused, StrategyError
from workflows.sdk.models import Answer, InstanceResult, SteerRequest, TaskSpec, VerifyResult
from workflows.sdk.registry import get_strategy, register_strategy
from workflows.sdk.strategy import Strategy, StrategyConfig

__all__ = [
    "Answer",
    "ChildFailed",
    "ConfigError",
    "Context",
    "Handle",
    "InstanceFailed",
    "InstanceResult",
    "Strategy",
    "StrategyConfig",
    "SteerRefused",
    "SteerRequest",
    "StrategyError",
    "TaskSpec",
    "VerifyResult",
    "get_strategy",
    "register_strategy",
]
