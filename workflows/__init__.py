"""Orchard's strategy SDK: write a strategy by subclassing `Strategy`.

    from workflows import Strategy, StrategyConfig, InstanceResult
"""

from workflows.context import Context, Handle
from workflows.models import InstanceResult, TaskSpec, VerifyResult
from workflows.sdk import ConfigError, InstanceFailed, Strategy, StrategyConfig, StrategyError
from workflows.registry import get_strategy, register_strategy

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
