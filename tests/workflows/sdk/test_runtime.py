"""The workflow behind every strategy: every ending sets the run's outcome (OrchardOutcome), so
`orchard list --status failed` finds failed runs, and a failure says what the run spent.
(A canceled run's outcome: test_children.py and test_continue_as_new.py.)"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from client.snapshots import outcome_of
from tests.conftest import listed, run_scripted, start_scripted
from tests.scripted import Script, until
from workflows.sdk.visibility import SA_OUTCOME


async def outcome(client, handle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(SA_OUTCOME)


async def test_success_partial_and_failure_each_set_the_outcome(client, scripted_queue):
    ok = await start_scripted(client, scripted_queue, "fan-out", Script(), params={"n": 2})
    partial = await start_scripted(client, scripted_queue, "multi-branch", Script(failures={"variant/b": "rate limited"}),
                                   params={"variants": [{"id": "a"}, {"id": "b"}]})
    failed = await start_scripted(client, scripted_queue, "bug-finding", Script(answers={"discover/.*": '{"found": false}'}, usage={".*": (5, 1, 0.1)}),
                                  params={"target_area": "app.py"})
    await ok.result()
    await partial.result()
    with pytest.raises(WorkflowFailureError) as err:
        await failed.result()
    assert err.value.cause.message == "no bug found in app.py"
    assert err.value.cause.details == ({"instances_run": 1, "input_tokens": 5, "output_tokens": 1, "cost_usd": 0.1, "cost_estimated": False},)
    assert [await outcome(client, h) for h in (ok, partial, failed)] == ["success", "partial", "failed"]
    failed_runs = {wf.id for wf in await listed(client, 'OrchardOutcome = "failed"', lambda runs: failed.id in {wf.id for wf in runs})}
    assert failed.id in failed_runs and ok.id not in failed_runs


async def test_a_run_whose_results_all_failed_is_failed_in_temporal_and_still_shows_its_result(client, scripted_queue):
    """The Temporal UI said COMPLETED for a failed loop (best-of-n said FAILED): every failed run is
    Failed there now, and what `orchard run/watch/show` print of it is its result, as before."""
    loop = await start_scripted(client, scripted_queue, "loop", Script(steps=[{"passed": []}]),
                                params={"mode": "fixed", "max_iterations": 2, "verify": "pytest -q"})
    simple = await start_scripted(client, scripted_queue, "simple", Script(failures={".*": "Not logged in"}))
    for handle, reason in ((loop, "reached the maximum of 2 iterations"), (simple, "Not logged in")):
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert err.value.cause.message == reason, err.value.cause.message
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.FAILED and desc.typed_search_attributes.get(SA_OUTCOME) == "failed"
        shown = await outcome_of(handle)  # what run, watch and show print
        assert (shown.status, shown.exit_code, shown.error) == ("failed", 1, None)
        assert shown.result is not None and shown.result.instances[0].error == reason
    assert [(row.iteration, row.action) for row in (await outcome_of(loop)).result.instances[0].loop.trail] == [(1, "continue"), (2, "timeout")]
    failed_runs = {wf.id for wf in await listed(client, 'OrchardOutcome = "failed"', lambda runs: {loop.id, simple.id} <= {wf.id for wf in runs})}
    assert {loop.id, simple.id} <= failed_runs


async def test_a_parent_still_gets_the_results_of_a_child_whose_results_all_failed(client, scripted_queue):
    result = await run_scripted(client, scripted_queue, "fallback", Script(answers={"discover/.*": '{"found": false}'}, failures={"simple": "rate limited"}))
    _, plain = result.children
    assert (plain.key, plain.status, plain.error) == ("plain", "failed", "rate limited")
    assert result.instances[0].error == "rate limited" and result.instances[0].metadata["fallback_because"].startswith("child strategy bug-finding")
    assert (await client.get_workflow_handle(plain.run_id).describe()).status == WorkflowExecutionStatus.FAILED


CANCELED = [
    ("simple", {}),
    ("best-of-n", {"n": 2}),
    ("iterative", {"iterations": 2}),
    ("multi-branch", {"variants": [{"id": "a"}, {"id": "b"}]}),
    ("loop", {"mode": "fixed", "max_iterations": 3}),
]


@pytest.mark.parametrize("strategy, params", CANCELED, ids=[c[0] for c in CANCELED])
async def test_every_canceled_run_is_canceled_in_temporal(client, scripted_queue, strategy, params):
    hold = asyncio.Event()
    script = Script(holds={".*": hold}, steps=[{"hold": hold}])
    handle = await start_scripted(client, scripted_queue, strategy, script, params=params)
    await until(lambda: script.calls or script.iterations)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.CANCELED and desc.typed_search_attributes.get(SA_OUTCOME) == "canceled"
    assert (await outcome_of(handle)).exit_code == 4
