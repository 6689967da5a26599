"""The built-in strategies, by name: Pitaya's (simple, best-of-n, iterative, bug-finding,
doc-review), Spearmint's over variants (multi-branch, shadow, round-robin), AgentGate's loops (loop), and
otters' runbook pipelines, queue workers and crons (runbook, runbook-worker and runbook-cron, started by
`orchard runbook run`, `orchard runbook worker start` and the schedule `orchard runbook cron start` makes).

A strategy's module is imported when its class is first asked for: the client knows every name
without importing the whole SDK, so `orchard run` starts in a fraction of the time. Importing this
catalog registers every built-in under its name (by its class's path, so nothing more is imported):
the SDK's registry knows no strategy of its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from workflows.sdk.registry import register_strategy

if TYPE_CHECKING:
    from workflows.sdk.strategy import Strategy

_WHERE: dict[str, str] = {
    "simple": "workflows.strategies.simple:SimpleStrategy",
    "best-of-n": "workflows.strategies.best_of_n:BestOfNStrategy",
    "iterative": "workflows.strategies.iterative:IterativeStrategy",
    "bug-finding": "workflows.strategies.bug_finding:BugFindingStrategy",
    "doc-review": "workflows.strategies.doc_review:DocReviewStrategy",
    "multi-branch": "workflows.strategies.variants.multi_branch:MultiBranchStrategy",
    "shadow": "workflows.strategies.variants.shadow:ShadowStrategy",
    "round-robin": "workflows.strategies.variants.round_robin:RoundRobinStrategy",
    "loop": "workflows.loops.loop:LoopStrategy",
    "runbook": "workflows.runbooks.pipeline:PipelineStrategy",
    "runbook-worker": "workflows.runbooks.consumer:QueueConsumerStrategy",
    "runbook-cron": "workflows.runbooks.cron:CronStrategy",
}


class _BuiltinStrategies(Mapping[str, "type[Strategy]"]):
    """Name -> class; names and membership need no import, a class imports its own module."""

    def __getitem__(self, name: str) -> type[Strategy]:
        module, _, cls = _WHERE[name].partition(":")
        return getattr(importlib.import_module(module), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


BUILTIN_STRATEGIES: Mapping[str, type[Strategy]] = _BuiltinStrategies()

for _name, _where in _WHERE.items():
    register_strategy(_name, _where)


_CLASSES = {where.rpartition(":")[2]: name for name, where in _WHERE.items()}
"""The built-ins by class name (`from workflows.strategies import BestOfNStrategy`, Pitaya's
`from pitaya.orchestration.strategy.builtin import ...`), imported when first asked for."""

if not TYPE_CHECKING:  # type checkers read the classes from their modules

    def __getattr__(name: str) -> type[Strategy]:
        if name not in _CLASSES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return BUILTIN_STRATEGIES[_CLASSES[name]]
