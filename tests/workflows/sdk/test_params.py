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


@pytest.mark.parametrize("raw", ["true", "false", "yes", True])
def test_a_yes_no_value_is_no_number(raw):
    """`-S n=true` was taken as n=1 (pydantic reads True as 1): it is refused, naming what n takes."""
    with pytest.raises(ConfigError) as err:
        BUILTIN_STRATEGIES["best-of-n"].normalize_params({"n": raw})
    assert str(err.value) == f"bad value for parameter 'n' of strategy 'best-of-n': it takes a whole number, not a yes/no value (got {raw!r})"
    with pytest.raises(ConfigError, match="it takes a number, not a yes/no value"):
        _TypedStrategy.normalize_params({"ratio": raw})


def test_a_value_that_reads_as_json_but_the_field_takes_only_as_text_stays_text():
    """A loop's `-S verify=true` was refused as a yes/no value, so a check named `true` could not be
    given: `verify` takes text (a command), so the word is the command; JSON lists and mappings of
    commands still read as such, and a levels file's "true" too."""
    loop = BUILTIN_STRATEGIES["loop"]
    assert loop.normalize_params({"mode": "fixed", "verify": "true"})["verify"] == "true"
    assert loop.normalize_params({"verify": "1"})["verify"] == "1"
    assert loop.normalize_params({"verify": '["true", "ruff check ."]'})["verify"] == ["true", "ruff check ."]
    assert loop.normalize_params({"verify": {"L0": "true", "L1": ["false"]}})["verify"] == {"L0": "true", "L1": ["false"]}
    assert BUILTIN_STRATEGIES["best-of-n"].normalize_params({"verify": "true"})["verify"] == "true"
    assert _TypedStrategy.normalize_params({"flag": "yes"})["flag"] is True  # a yes/no field still reads yes/no


def test_a_best_of_n_past_what_one_run_takes_is_refused_naming_the_limit():
    """`-S n=100000 --detach` started a run whose first workflow task could not finish (the worker
    said a slot "may remain forever used"; watch said stuck): it is refused before anything starts.
    n=4,000 with every scorer asked twice (12,000 instances) was run to its end against scripted
    agents: success, its longest workflow task 0.7 s."""
    best_of_n = BUILTIN_STRATEGIES["best-of-n"]
    with pytest.raises(ConfigError) as err:
        best_of_n.normalize_params({"n": "100000"})
    assert str(err.value) == ("bad parameters for strategy 'best-of-n': n=100,000 may ask for 300,000 instances (each candidate and up to 2 scorer "
                              "attempts), past the 12,000 one run takes: n is at most 4,000 with score_attempts=2")
    assert best_of_n.normalize_params({"n": "4000"}) == {"n": 4000}
    assert best_of_n.normalize_params({"n": "6000", "score_attempts": "1"}) == {"n": 6000, "score_attempts": 1}
