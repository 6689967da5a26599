"""The built-in strategies, by name."""

from __future__ import annotations

from workflows.best_of_n import BestOfNStrategy
from workflows.sdk import Strategy
from workflows.simple import SimpleStrategy

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {cls.name(): cls for cls in (SimpleStrategy, BestOfNStrategy)}
