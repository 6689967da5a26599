"""Spearmint's strategies over variants of an agent run, end to end on real repositories:
multi-branch's branches and round-robin's durable rotation continuing as new. Their decisions
(ids, roles, comparison rows, shadows, turn order) are tested against scripted activities in
test_multi_branch.py, test_shadow.py and test_round_robin.py."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from tests.conftest import git, orchard_branches, run_strategy
from workflows.coordination.rotation import RotationWorkflow, rotation_id
from workflows.coordination.states import RotationState, TurnRequest


async def test_multi_branch_runs_every_variant_on_its_own_branch(client, task_queue, repo):
    variants = [
        {"id": "plain"},
        {"prompt_suffix": ["Be brief.", "Be thorough."]},  # a sweep: two variants
        {"id": "broken", "agent_command": "echo 'no model access' >&2; exit 3"},
    ]
    result = await run_strategy(client, task_queue, "multi-branch", repo, params={"variants": variants, "verify": "test -d demo"})
    assert result.status == "partial" and result.instances_run == 4
    by_variant = {r.variant.id: r for r in result.instances}
    assert orchard_branches(repo) == sorted(r.branch_name for r in result.instances if r.success)
    assert "Be thorough." in git(repo, "show", f"{by_variant['prompt_suffix=Be thorough.'].branch_name}", "--format=")
    assert "Be thorough." not in git(repo, "show", f"{by_variant['plain'].branch_name}", "--format=")
    # The row of a real run: git's count of files changed, `test -d demo` run on the variant's commit.
    assert by_variant["plain"].legacy_dump()["metadata"]["comparison"] == {
        "variant": "plain", "role": "variant", "success": True, "duration_seconds": by_variant["plain"].duration_seconds,
        "tokens": 0, "cost_usd": 0.0, "files_changed": 1, "verified": True,
    }
    assert "no model access" in by_variant["broken"].error  # the variant's own agent command ran
    assert by_variant["broken"].legacy_dump()["metadata"]["comparison"]["success"] is False


VARIANTS = [{"id": "a", "prompt_suffix": "Variant A."}, {"id": "b", "prompt_suffix": "Variant B."}, {"id": "c", "prompt_suffix": "Variant C."}]


async def test_round_robin_rotates_across_runs_and_continues_as_new(client, task_queue, repo):
    # Start the rotation with a short run so that it continues as new during the test.
    ledger = rotation_id(str(repo), "greeting")
    first = await client.start_workflow(RotationWorkflow.run, RotationState(rotation="greeting", repo=str(repo), turns_per_run=2), id=ledger,
                                        task_queue=task_queue)
    params = {"variants": VARIANTS, "experiment": "greeting"}
    runs = [await run_strategy(client, task_queue, "round-robin", repo, params=params) for _ in range(3)]
    assert [r.instances[0].variant.id for r in runs] == ["a", "b", "c"]
    assert [r.instances[0].variant.turn for r in runs] == [0, 1, 2]
    assert "Variant B." in git(repo, "show", runs[1].instances[0].branch_name, "--format=")
    assert orchard_branches(repo) == sorted(r.instances[0].branch_name for r in runs)

    # The turns given before and after continue-as-new are one rotation.
    state = await client.get_workflow_handle(ledger).query(RotationWorkflow.state)
    assert [(t.run_id, t.choice) for t in state.turns] == [(r.run_id, v) for r, v in zip(runs, "abc", strict=True)]
    first_run = client.get_workflow_handle(ledger, run_id=first.result_run_id)
    events = [e.event_type async for e in first_run.fetch_history_events()]
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    # Asking again for a run that had its turn before continue-as-new returns that turn.
    again = await client.get_workflow_handle(ledger).execute_update(RotationWorkflow.take_turn, TurnRequest(run_id=runs[0].run_id, options=["x"]))
    assert (again.number, again.choice) == (0, "a")
