"""Strategy files written in Pitaya's idioms (tests/strategy_files/pitaya/: its examples' fan-out and
propose/refine, its built-ins' `name` property, config `validate()`, in-run helper strategy,
TaskFailed and NoViableCandidates) with only their import lines mapped to `workflows`, run as real
workflows against scripted activities (tests/scripted.py); and what ctx says to a strategy that
reaches into Pitaya's private attributes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from orchard_common.strategy_loader import load_strategy
from tests.conftest import start_scripted
from tests.scripted import Script, until

PITAYA = Path(__file__).resolve().parents[2] / "strategy_files" / "pitaya"
FILES = [str(PITAYA / f) for f in ("fan_out.py", "draft_polish.py", "ranked.py", "reaches_in.py")]


@pytest.fixture(scope="module")
async def pitaya_queue(temporal_env):
    """A worker serving the Pitaya-style files (and the built-ins) with scripted activities."""
    from orchard_worker.main import build_worker, strategies_for
    from tests.scripted import SCRIPTED_ACTIVITIES, SCRIPTED_HOST

    queue = f"test-pitaya-{uuid.uuid4().hex[:8]}"
    async with build_worker(temporal_env.client, queue, strategies_for(FILES), activities=SCRIPTED_ACTIVITIES, host=queue + SCRIPTED_HOST):
        yield queue


async def test_the_fan_out_example_shape_runs_every_instance_at_once(client, pitaya_queue):
    script = Script()
    result = await (await start_scripted(client, pitaya_queue, "pitaya-wide", script, params={"parallel": 3})).result()
    assert result.status == "success" and [r.key for r in result.instances] == ["wide/1", "wide/2", "wide/3"]
    assert [c.task.prompt for c in script.calls] == [f"add a greeting (take {i})" for i in (1, 2, 3)]


async def test_a_failed_instance_awaited_with_gather_fails_the_run_with_its_reason(client, pitaya_queue):
    handle = await start_scripted(client, pitaya_queue, "pitaya-wide", Script(failures={"wide/2": "the agent gave up"}))
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failed.value.cause.message == "instance 'wide/2' failed: the agent gave up"


async def test_the_propose_refine_shape_bases_its_second_stage_on_the_first_ones_branch(client, pitaya_queue):
    script = Script()
    result = await (await start_scripted(client, pitaya_queue, "pitaya-draft-polish", script, params={"polish_hint": "Shorter."})).result()
    draft, polished = result.instances
    assert (draft.key, polished.key) == ("draft/gen", "polish/gen")
    assert script.call("polish/gen").task.base_branch == draft.branch_name
    assert script.call("polish/gen").task.prompt.startswith("Polish the previous change: Shorter.")


def test_a_name_property_names_the_strategy_its_workflow_type_and_its_branches():
    ranked = load_strategy(f"{PITAYA / 'ranked.py'}:RankedStrategy")
    assert ranked.name() == "pitaya-ranked" and ranked().name == "pitaya-ranked"
    assert ranked.workflow_class().__temporal_workflow_definition.name == "pitaya-ranked"
    grade = load_strategy(f"{PITAYA / 'ranked.py'}:GradeStrategy")
    assert grade.name() == "pitaya-grade"
    assert load_strategy(str(PITAYA / "ranked.py")) is ranked  # STRATEGY picks it among the file's two


async def test_the_built_in_shape_runs_a_helper_strategy_in_its_own_run_and_keeps_the_best(client, pitaya_queue):
    script = Script(failures={"cand2/gen": "no luck"})
    result = await (await start_scripted(client, pitaya_queue, "pitaya-ranked", script, params={"n": 3})).result()
    assert sorted(script.started_keys()) == ["cand1/gen", "cand1/grade", "cand2/gen", "cand3/gen", "cand3/grade"]
    (best,) = result.instances
    assert best.key in ("cand1/gen", "cand3/gen") and best.metrics["selected"] is True
    assert best.metadata["picked_by"] == "pitaya-ranked"  # self.name is the name, as in Pitaya
    graded = {c.key: c for c in script.calls}
    assert graded[best.key.replace("gen", "grade")].task.import_policy == "never"


async def test_no_viable_candidates_fails_the_run_with_its_message(client, pitaya_queue):
    handle = await start_scripted(client, pitaya_queue, "pitaya-ranked", Script(failures={"cand2/gen": "no luck"}),
                                  params={"n": 2, "require_min_success": 2})
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failed.value.cause.message == "1 of 2 candidates succeeded; 2 required"


def test_a_config_validate_refuses_bad_values_before_the_run_in_one_line():
    from workflows import ConfigError

    ranked = load_strategy(str(PITAYA / "ranked.py"))
    assert ranked.normalize_params({"n": "2", "tie_breaker": "random"}) == {"n": 2, "tie_breaker": "random"}
    with pytest.raises(ConfigError, match=r"^bad parameters for strategy 'pitaya-ranked': n must be at least 1$"):
        ranked.normalize_params({"n": "0"})
    with pytest.raises(ConfigError, match="tie_breaker must be 'first' or 'random'"):
        ranked().create_config(tie_breaker="coin")


async def test_a_private_ctx_attribute_stops_the_run_at_the_strategys_line_saying_what_to_use(client, pitaya_queue):
    from client.snapshots import workflow_task_state

    script = Script()
    handle = await start_scripted(client, pitaya_queue, "pitaya-reaches-in", script)
    try:
        async def failing() -> str | None:
            return (await workflow_task_state(handle))[1]

        failure = await until(failing, timeout=30)
        line = next(n for n, text in enumerate((PITAYA / "reaches_in.py").read_text().splitlines(), 1) if "_strategy_execution_id" in text)
        assert failure == (f"ctx._strategy_execution_id is Pitaya's private run id: use ctx.run_id (at {PITAYA / 'reaches_in.py'}:{line}, in execute)")
        assert script.started_keys() == ["first"]  # the guarded uses of ctx._orchestrator went by; the run waits for a fix
    finally:
        await handle.terminate("test over")
