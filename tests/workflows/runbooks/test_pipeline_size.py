"""The largest pipeline a runbook may hold runs, and its whole history replays within Temporal's limits."""

from __future__ import annotations

import time

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.runbooks.registry import RunbookRegistry
from orchard_common.sandbox import sandbox_runner
from tests.conftest import final_result, start_scripted
from tests.scripted import Script
from workflows.runbooks import model as m
from workflows.strategies import BUILTIN_STRATEGIES

pytestmark = pytest.mark.slow  # a step a phase: ~20 s of Temporal's round trips


def long_pipeline(folder, phases: int) -> dict:  # type: ignore[no-untyped-def]
    folder.mkdir(exist_ok=True)
    tables = "".join(f'[[pipeline.long.phase]]\nname = "p{i}"\nrun = "echo {i}"\n\n' for i in range(phases))
    (folder / "ops.toml").write_text(f"[pipeline.long]\ninputs = []\n\n{tables}")
    return RunbookRegistry.load_directory(folder).bundle("ops.pipeline.long").model_dump(mode="json")


async def test_a_pipeline_of_the_most_phases_runs_and_its_whole_history_replays_in_under_2_s(client, scripted_queue, tmp_path):
    """A worker that takes a run over replays its whole history in one workflow task: for the
    largest pipeline a runbook may hold, that stays under the 2 s Temporal allows a task's CPU
    (it was ~0.1 s a phase squared: the phase graph was drawn whole at every step)."""
    runbooks = long_pipeline(tmp_path / "runbooks", m.MAX_PHASES)
    handle = await start_scripted(client, scripted_queue, "runbook", Script(), params={"pipeline": "ops.pipeline.long", "runbooks": runbooks})
    result = await final_result(handle)
    assert result.status == "success" and len(result.instances[0].pipeline.phases) == m.MAX_PHASES
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[BUILTIN_STRATEGIES["runbook"].workflow_class()], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    recorded = WorkflowHistory.from_json(handle.id, history.to_json())
    cpu = time.process_time()
    replay = await replayer.replay_workflow(recorded, raise_on_replay_failure=False)
    replayed = time.process_time() - cpu
    assert replay.replay_failure is None
    assert replayed < 2.0, f"{len(history.events)} events replayed in {replayed:.2f}s of CPU"
