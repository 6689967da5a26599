"""Orchard's strategy SDK: write a strategy by subclassing `Strategy`.

    from workflows import Strategy, StrategyConfig, InstanceResult

Strategies compose through `register_strategy(name, factory)` and `get_strategy(name)`.
"""

from workflows.context import Context, Handle
from workflows.models import InstanceResult, TaskSpec, VerifyResult
from workflows.registry import get_strategy, register_strategy
from workflows.sdk import ConfigError, InstanceFailed, Strategy, StrategyConfig, StrategyError

__all__ = [
    "ConfigError",
    "Context",
    "Handle",
    "InstanceFailed",
    "InstanceResult",
    "Strategy",
    "StrategyConfig",
    "StrategyError",
    "TaskSpec",
    "VerifyResult",
    "get_strategy",
    "register_strategy",
]
