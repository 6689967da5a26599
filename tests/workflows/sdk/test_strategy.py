"""The strategy SDK without a server: names, parameters, spec loading, branch names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from client.strategy_loader import StrategyLoadError, load_strategy
from tests.conftest import ROOT
from workflows import Strategy, StrategyConfig
from workflows.sdk.errors import ConfigError
from workflows.sdk.models import instance_branch, is_protected_ref
from workflows.sdk.strategy import strategy_name_from_class
from workflows.strategies import BUILTIN_STRATEGIES
from workflows.strategies.best_of_n import parse_score


@pytest.mark.parametrize(
    "cls, name",
    [("BestOfNStrategy", "best-of-n"), ("FanOutStrategy", "fan-out"), ("SimpleStrategy", "simple"), ("HTTPFixStrategy", "http-fix")],
)
def test_names_derive_from_class(cls, name):
    assert strategy_name_from_class(cls) == name


def test_builtins_are_workflow_types_named_after_the_strategy():
    assert set(BUILTIN_STRATEGIES) == {
        "simple", "best-of-n", "iterative", "bug-finding", "doc-review", "multi-branch", "shadow", "round-robin"}
    for name, cls in BUILTIN_STRATEGIES.items():
        assert cls.workflow_class().__temporal_workflow_definition.name == name


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


def test_best_of_n_checks_its_config():
    with pytest.raises(ConfigError, match="require_min_success"):
        BUILTIN_STRATEGIES["best-of-n"].normalize_params({"n": "2", "require_min_success": "3"})
    with pytest.raises(ConfigError, match="tie_break"):
        BUILTIN_STRATEGIES["best-of-n"].normalize_params({"tie_break": "coin"})


def test_specs_load_from_file_file_class_and_module(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert load_strategy(str(ROOT / "examples/custom_simple.py")).name() == "my-simple"
    assert load_strategy(f"{ROOT}/examples/propose_refine.py:ProposeRefineStrategy").name() == "propose-refine"
    assert load_strategy("examples.fanout_two:FanOutStrategy").name() == "fan-out"
    assert load_strategy("examples.fanout_two").name() == "fan-out"


def test_bad_specs_are_clear(tmp_path):
    with pytest.raises(StrategyLoadError, match="unknown strategy 'nope'; built-in strategies: best-of-n, bug-finding, doc-review,"):
        load_strategy("nope")
    broken = tmp_path / "broken.py"
    broken.write_text("from workflows import Strategy\ndef broken(:\n")
    with pytest.raises(StrategyLoadError, match="failed to import: SyntaxError"):
        load_strategy(str(broken))
    with pytest.raises(StrategyLoadError, match="does not exist"):
        load_strategy(str(tmp_path / "missing.py"))
    with pytest.raises(StrategyLoadError, match="no Strategy class 'Nope'"):
        load_strategy(f"{ROOT}/examples/fanout_two.py:Nope")


def test_branch_names_and_protected_refs():
    assert instance_branch("best-of-n", "run_1", "candidate/1").startswith("orchard/best-of-n/run_1/k")
    assert len(instance_branch("s", "r", "k").rsplit("/k", 1)[1]) == 8
    for ref in ("main", "master", "develop", "release/1.2", "refs/heads/main"):
        assert is_protected_ref(ref)
    assert not is_protected_ref("orchard/simple/run_1/kabcdef12")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"score": 7, "rationale": "ok"}', (7.0, "ok")),
        ('Here you go:\n{"score": 12.5, "rationale": "great"}', (10.0, "great")),
        ('{"score": -3}', (0.0, "")),
        ("seven out of ten", None),
        ('{"score": "7"}', None),
    ],
)
def test_scores_are_parsed_and_clamped(text, expected):
    assert parse_score(text, 10) == expected
