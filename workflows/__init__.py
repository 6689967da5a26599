"""Orchard's strategy SDK: write a strategy by subclassing `Strategy`.

    from workflows import Strategy, StrategyConfig, InstanceResult

Strategies compose through `ctx.run_strategy(name_or_class, ...)` (a child workflow);
`register_strategy(name, factory)` and `get_strategy(name)` name them (every built-in is known by
its name); loop modes are `workflows.loops.registry.register_decider(mode, factory)`, the
factory making the mode's decider.

A strategy written for Pitaya needs only its import lines mapped here: `StrategyContext` (ctx's
class), `TaskFailed` and `AggregateTaskFailed` (what ctx.wait and ctx.wait_all raise, both
InstanceFailed), `NoViableCandidates` and `OrchestratorError` (StrategyError) are Pitaya's names
(docs/writing-strategies.md, "Coming from Pitaya", maps each import line).

The names below are imported when first used, so that importing one module of the SDK (the
client's models) does not import all of it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ChildFailed": "workflows.sdk.children",
    "Context": "workflows.sdk.context",
    "Handle": "workflows.sdk.context",
    "StrategyContext": "workflows.sdk.context",
    "AggregateTaskFailed": "workflows.sdk.errors",
    "NoViableCandidates": "workflows.sdk.errors",
    "OrchestratorError": "workflows.sdk.errors",
    "TaskFailed": "workflows.sdk.errors",
    "ConfigError": "workflows.sdk.errors",
    "InstanceFailed": "workflows.sdk.errors",
    "SteerRefused": "workflows.sdk.errors",
    "StrategyError": "workflows.sdk.errors",
    "Answer": "workflows.sdk.models",
    "InstanceResult": "workflows.sdk.models",
    "Selection": "workflows.sdk.models",
    "SteerRequest": "workflows.sdk.models",
    "TaskSpec": "workflows.sdk.models",
    "VerifyResult": "workflows.sdk.models",
    "get_strategy": "workflows.sdk.registry",
    "Steerable": "workflows.sdk.steering",
    "register_strategy": "workflows.sdk.registry",
    "Strategy": "workflows.sdk.strategy",
    "StrategyConfig": "workflows.sdk.strategy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'workflows' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
