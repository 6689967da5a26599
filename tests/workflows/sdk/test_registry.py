"""The registry strategies are named in, for ctx.run_strategy and get_strategy."""

import uuid

import pytest

from workflows import StrategyError, get_strategy, register_strategy
from workflows.strategies import BUILTIN_STRATEGIES


def test_strategies_register_once_by_name():
    assert get_strategy("best-of-n") is BUILTIN_STRATEGIES["best-of-n"]
    name = f"mine-{uuid.uuid4().hex[:6]}"
    register_strategy(name, BUILTIN_STRATEGIES["simple"])
    assert get_strategy(name) is BUILTIN_STRATEGIES["simple"]
    register_strategy(name, BUILTIN_STRATEGIES["simple"])  # the same definition again (a re-import): a no-op
    with pytest.raises(StrategyError, match=f"strategy '{name}' is already registered"):
        register_strategy(name, BUILTIN_STRATEGIES["iterative"])
    with pytest.raises(StrategyError, match="unknown strategy 'nope'; registered: best-of-n, bug-finding,"):
        get_strategy("nope")
