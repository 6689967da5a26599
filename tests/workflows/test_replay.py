"""Recorded histories of every built-in strategy and example replay against the current code."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.commands.replay import ReplayDiverged, replay
from tests.conftest import ROOT
from worker import sandbox_runner
from workflows.coordination.rotation import ROTATION_WORKFLOW, RotationWorkflow
from workflows.strategies import BUILTIN_STRATEGIES

HISTORIES = sorted((ROOT / "tests" / "histories").glob("*.json"))
SPECS = {
    "my-simple": str(ROOT / "examples/custom_simple.py"),
    "fan-out": str(ROOT / "examples/fanout_two.py"),
    "propose-refine": str(ROOT / "examples/propose_refine.py"),
}


def test_every_builtin_strategy_has_a_recorded_history():
    assert set(BUILTIN_STRATEGIES) <= {h.stem for h in HISTORIES}


@pytest.mark.parametrize("history", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays_deterministically(history):
    report = await replay(history.read_text(), history.stem, SPECS.get(history.stem))
    assert "deterministic" in report


async def test_an_unsafe_edit_is_caught_and_the_divergence_named():
    history = ROOT / "tests" / "histories" / "best-of-n.json"
    with pytest.raises(ReplayDiverged) as err:
        await replay(history.read_text(), "best-of-n", str(ROOT / "tests/strategy_files/best_of_n_changed.py"))
    assert str(err.value).startswith("[TMPRL1100] Nondeterminism error")
    assert "'instance/candidate/1'" in str(err.value) and "'instance/warmup'" in str(err.value)


async def test_the_rotation_workflow_replays_deterministically():
    history = ROOT / "tests" / "histories" / "rotation" / f"{ROTATION_WORKFLOW}.json"
    replayer = Replayer(workflows=[RotationWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    result = await replayer.replay_workflow(WorkflowHistory.from_json(ROTATION_WORKFLOW, history.read_text()), raise_on_replay_failure=False)
    assert result.replay_failure is None
