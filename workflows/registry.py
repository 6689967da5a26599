"""The built-in strategies, by name, and the registry code that composes strategies uses.

`register_strategy(name, factory)` makes a strategy available to `get_strategy(name)`; a factory
is a Strategy subclass or any callable taking `(params, defaults)` and returning a Strategy.
A composing strategy runs another inside its own workflow:

    inner = get_strategy("best-of-n")(params={"n": 3}, defaults=self.defaults)
    results = await inner.execute(prompt, base_branch, ctx)
"""

from __future__ import annotations

from collections.abc import Callable

from workflows.best_of_n import BestOfNStrategy
from workflows.bug_finding import BugFindingStrategy
from workflows.doc_review import DocReviewStrategy
from workflows.iterative import IterativeStrategy
from workflows.multi_branch import MultiBranchStrategy
from workflows.round_robin import RoundRobinStrategy
from workflows.sdk import Strategy, StrategyError
from workflows.shadow import ShadowStrategy
from workflows.simple import SimpleStrategy

StrategyFactory = Callable[..., Strategy]

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {
    cls.name(): cls
    for cls in (
        SimpleStrategy, BestOfNStrategy, IterativeStrategy, BugFindingStrategy, DocReviewStrategy,
        MultiBranchStrategy, ShadowStrategy, RoundRobinStrategy,
    )
}

_registered: dict[str, StrategyFactory] = dict(BUILTIN_STRATEGIES)


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make `factory` available as `name`; a name is registered once."""
    if name in _registered:
        raise StrategyError(f"strategy {name!r} is already registered")
    _registered[name] = factory


def get_strategy(name: str) -> StrategyFactory:
    """The factory registered as `name` (every built-in is registered under its own name)."""
    try:
        return _registered[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; registered: {', '.join(sorted(_registered))}") from None
