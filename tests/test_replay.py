"""Recorded histories of every built-in strategy and example replay against the current code."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.replay import ReplayDiverged, replay
from tests.conftest import ROOT

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
SPECS = {
    "my-simple": str(ROOT / "examples/custom_simple.py"),
    "fan-out": str(ROOT / "examples/fanout_two.py"),
    "propose-refine": str(ROOT / "examples/propose_refine.py"),
}


def test_every_builtin_strategy_has_a_recorded_history():
    assert {"simple", "best-of-n"} <= {h.stem for h in HISTORIES}


@pytest.mark.parametrize("history", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays_deterministically(history):
    report = await replay(history.read_text(), history.stem, SPECS.get(history.stem))
    assert "deterministic" in report


async def test_an_unsafe_edit_is_caught_and_the_divergence_named():
    history = Path(__file__).parent / "histories" / "best-of-n.json"
    with pytest.raises(ReplayDiverged) as err:
        await replay(history.read_text(), "best-of-n", str(ROOT / "tests/strategies/best_of_n_changed.py"))
    assert str(err.value).startswith("[TMPRL1100] Nondeterminism error")
    assert "'instance/candidate/1'" in str(err.value) and "'instance/warmup'" in str(err.value)
