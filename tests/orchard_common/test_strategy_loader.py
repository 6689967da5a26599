"""Finding a strategy from a spec: a built-in name, a file (with a class), a module."""

import pytest

from orchard_common.strategy_loader import StrategyLoadError, load_strategy
from tests.conftest import ROOT


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


def test_a_misspelled_built_in_strategy_gets_a_did_you_mean():
    for typo in ("best-of-m", "bestofn", "best_of_n"):
        with pytest.raises(StrategyLoadError, match=rf"unknown strategy '{typo}' \(did you mean 'best-of-n'\?\); built-in strategies: best-of-n,"):
            load_strategy(typo)


def test_a_file_that_is_not_python_is_named_as_such(tmp_path):
    runbook = tmp_path / "build.toml"
    runbook.write_text("[pipeline.build]\n")
    for spec in (str(runbook), "build.toml", f"{runbook}:Build"):
        with pytest.raises(StrategyLoadError, match=r"a strategy is a Python file \(path.py\[:Class\]\) or module \(pkg.mod\[:Class\]\), not "):
            load_strategy(spec)
