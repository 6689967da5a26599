"""Strategy parameters as `-S` and orchard.yaml give them: typed, validated, one line when wrong."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from workflows import Strategy, StrategyConfig
from workflows.sdk.errors import ConfigError
from workflows.strategies import BUILTIN_STRATEGIES


@pytest.mark.parametrize(
    "strategy, params, message",
    [
        ("bug-finding", {}, "target_area is required"),
        ("doc-review", {}, "pages_file is required"),
        ("doc-review", {"pages_file": '[{"title": "A", "path": "a.md"}, {"title": "a", "path": "b.md"}]'}, "pages share the slug 'a'"),
        ("doc-review", {"pages_file": '[{"title": "A"}]'}, "bad value for parameter 'pages_file'"),
        ("iterative", {"iterations": "0"}, "iterations must be at least 1"),
        ("shadow", {"variants": '[{"id": "a"}]', "primary": "b"}, "no variant 'b'; variants: a"),
        ("round-robin", {"variants": '[{"id": "a"}]'}, "experiment is required"),
    ],
)
def test_strategy_checks_are_one_line(strategy, params, message):
    with pytest.raises(ConfigError, match=message):
        BUILTIN_STRATEGIES[strategy].normalize_params(params)


@dataclass
class _Cfg(StrategyConfig):
    n: int = 2
    ratio: float = 0.5
    flag: bool = False
    tags: list[str] | None = None
    options: dict | None = None
    greeting: str = "hi"


class _TypedStrategy(Strategy):
    NAME = "typed"

    def get_config_class(self):
        return _Cfg

    async def execute(self, prompt, base_branch, ctx):
        return []


def test_params_are_parsed_and_typed():
    got = _TypedStrategy.normalize_params(
        {"n": "3", "ratio": "0.25", "flag": "true", "tags": '["a","b"]', "options": '{"k": 1}', "greeting": "123"}
    )
    assert got == {"n": 3, "ratio": 0.25, "flag": True, "tags": ["a", "b"], "options": {"k": 1}, "greeting": "123"}
    cfg = _TypedStrategy(params=got).create_config()
    assert (cfg.n, cfg.flag, cfg.tags, cfg.greeting) == (3, True, ["a", "b"], "123")


def test_unknown_param_names_the_key_and_the_accepted_ones():
    with pytest.raises(ConfigError, match=r"unknown parameter 'nn' .*accepted: model, n, ratio"):
        _TypedStrategy.normalize_params({"nn": "1"})


def test_bad_value_names_the_key():
    with pytest.raises(ConfigError, match=r"parameter 'n' .*got 'many'"):
        _TypedStrategy.normalize_params({"n": "many"})
