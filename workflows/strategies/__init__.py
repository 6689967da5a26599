"""The built-in strategies, by name: Pitaya's (simple, best-of-n, iterative, bug-finding,
doc-review), Spearmint's over variants (multi-branch, shadow, round-robin), AgentGate's loops (loop), and
otters' runbook pipelines and queue workers (runbook and runbook-worker, started by `orchard runbook run`
and `orchard runbook worker start`)."""

from __future__ import annotations

from workflows.loops.loop import LoopStrategy
from workflows.runbooks.pipeline import PipelineStrategy
from workflows.runbooks.worker import QueueWorkerStrategy
from workflows.sdk.registry import register_strategy
from workflows.sdk.strategy import Strategy
from workflows.strategies.best_of_n import BestOfNStrategy
from workflows.strategies.bug_finding import BugFindingStrategy
from workflows.strategies.doc_review import DocReviewStrategy
from workflows.strategies.iterative import IterativeStrategy
from workflows.strategies.simple import SimpleStrategy
from workflows.strategies.variants.multi_branch import MultiBranchStrategy
from workflows.strategies.variants.round_robin import RoundRobinStrategy
from workflows.strategies.variants.shadow import ShadowStrategy

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {
    cls.name(): cls
    for cls in (
        SimpleStrategy, BestOfNStrategy, IterativeStrategy, BugFindingStrategy, DocReviewStrategy,
        MultiBranchStrategy, ShadowStrategy, RoundRobinStrategy, LoopStrategy, PipelineStrategy, QueueWorkerStrategy,
    )
}

for _name, _cls in BUILTIN_STRATEGIES.items():
    register_strategy(_name, _cls)
