"""Recorded histories of every built-in strategy and example replay against the current code."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.commands.replay import ReplayDiverged, replay
from orchard_common.sandbox import sandbox_runner
from tests.conftest import ROOT
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


@pytest.mark.parametrize("edit, said", [
    ("best_of_n_changed", "the edited code starts instance warmup where the history has instance candidate/1: work before it was added, removed or reordered"),
    ("best_of_n_fewer", "the edited code no longer does what the history records at event 12, instance candidate/2: it was removed or reordered"),
    ("best_of_n_more_at_the_end", "the edited code starts an instance (or another activity) where the history has the run's ending"),
    ("best_of_n_child_first", "the edited code starts a child strategy where the history has instance candidate/1 (event 11)"),
])
async def test_an_unsafe_edit_is_caught_and_what_it_changed_named(edit, said):
    history = ROOT / "tests" / "histories" / "best-of-n.json"
    with pytest.raises(ReplayDiverged) as err:
        await replay(history.read_text(), "best-of-n", str(ROOT / "tests" / "strategy_files" / f"{edit}.py"))
    assert str(err.value).startswith(said), str(err.value)
    assert "keep runs in flight on the old code" in str(err.value) and "machine" not in str(err.value)


async def test_the_rotation_workflow_replays_deterministically():
    history = ROOT / "tests" / "histories" / "rotation" / f"{ROTATION_WORKFLOW}.json"
    replayer = Replayer(workflows=[RotationWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    result = await replayer.replay_workflow(WorkflowHistory.from_json(ROTATION_WORKFLOW, history.read_text()), raise_on_replay_failure=False)
    assert result.replay_failure is None
