"""ctx.run_strategy: strategies run as child workflows (scripted activities): their own workflow
type, history and run id, results as `execute` returns them, totals added to the parent's,
failures the parent can handle, cancellation with the parent, and the same strategy twice."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from tests.conftest import run_scripted, start_scripted
from tests.scripted import Script
from workflows.sdk.models import RunProgress
from workflows.sdk.visibility import SA_OUTCOME


async def test_the_same_strategy_twice_then_another_each_as_a_child(client, scripted_queue):
    script = Script(usage={".*": (100, 10, 0.25)})
    result = await run_scripted(client, scripted_queue, "composed", script)
    tries, refine = [c for c in result.children if c.key.startswith("try/")], next(c for c in result.children if c.key == "refine")
    assert [c.strategy for c in result.children] == ["best-of-n", "best-of-n", "iterative"]
    assert all(c.status == "success" for c in result.children)
    hashes = {c.run_id.rsplit('.k', 1)[1] for c in tries}
    assert {c.run_id for c in tries} == {f"{result.run_id}.best-of-n.k{h}" for h in hashes} and len({c.run_id for c in tries}) == 2
    # Each child ran its own instances under its own run id: the same keys, never the same branches.
    by_run = {}
    for call in script.calls:
        by_run.setdefault(call.run_id, []).append(call.key)
    assert sorted(by_run[tries[0].run_id]) == sorted(by_run[tries[1].run_id]) == ["candidate/1", "candidate/2", "score/1/1", "score/2/1"]
    branches = [call.branch for call in script.calls if call.key == "candidate/1"]
    assert len(set(branches)) == 2 and all(b.startswith(f"orchard/best-of-n/{result.run_id}.best-of-n.k") for b in branches)
    assert by_run[refine.run_id] == ["round/1/work", "round/1/review"]
    (refined,) = result.instances
    assert refined.key == "round/1/work" and result.status == "success"
    assert result.instances_run == 4 + 4 + 2 == sum(c.totals.instances_run for c in result.children)
    # What the children spent is the parent's: 10 instances of 100 + 10 tokens and $0.25 each.
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (1000, 100, 2.5)
    assert [c.totals.cost_usd for c in result.children] == [1.0, 1.0, 0.5]
    # The child is a workflow of its own type under its parent, with Orchard's search attributes.
    child = await client.get_workflow_handle(refine.run_id).describe()
    assert child.workflow_type == "iterative" and child.raw_description.workflow_execution_info.parent_execution.workflow_id == result.run_id
    assert child.typed_search_attributes.get(SA_OUTCOME) == "success" and (await child.memo())["parent"] == result.run_id


async def test_a_failing_child_is_reported_and_the_parent_can_go_on(client, scripted_queue):
    script = Script(answers={"discover/.*": '{"found": false}'}, usage={".*": (7, 3, 0.5)})
    result = await run_scripted(client, scripted_queue, "fallback", script)
    hunt, plain = result.children
    assert (hunt.key, hunt.status, hunt.error) == ("hunt", "failed", "no bug found in app.py")
    assert (hunt.totals.instances_run, hunt.totals.cost_usd) == (1, 0.5)  # what the failed child spent counts
    assert (result.instances_run, result.input_tokens, result.cost_usd) == (1 + 1, 14, 1.0)
    assert result.instances[0].metadata["fallback_because"] == f"child strategy bug-finding ('hunt', run {hunt.run_id}) failed: no bug found in app.py"
    assert plain.status == "success"


async def test_cancelling_the_parent_cancels_its_children(client, scripted_queue):
    script = Script(delays={"candidate/.*": 30})
    handle = await start_scripted(client, scripted_queue, "composed", script)
    for _ in range(200):
        progress = await handle.query("progress", result_type=RunProgress)
        if len(progress.children) == 2 and len(script.calls) == 4:
            break
        await asyncio.sleep(0.05)
    assert [c.status for c in progress.children] == ["running", "running"]
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    for child in progress.children:
        assert (await client.get_workflow_handle(child.run_id).describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "canceled"


async def test_a_strategy_file_registers_its_helper_and_runs_it_by_name_run_after_run(client, scripted_queue):
    for _ in range(2):  # the sandbox re-imports the file for each run, registering the helper again
        result = await run_scripted(client, scripted_queue, "uses-helper", Script())
        (child,) = result.children
        assert (child.strategy, child.status) == ("helper", "success") and result.instances[0].key == "help"
