"""The workflow behind every strategy: every ending sets the run's outcome (OrchardOutcome), so
`orchard list --status failed` finds failed runs, and a failure says what the run spent.
(A canceled run's outcome: test_children.py and test_continue_as_new.py.)"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from tests.conftest import start_scripted
from tests.scripted import Script
from workflows.sdk.visibility import SA_OUTCOME


async def outcome(client, handle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(SA_OUTCOME)


async def test_success_partial_and_failure_each_set_the_outcome(client, scripted_queue):
    ok = await start_scripted(client, scripted_queue, "fan-out", Script(), params={"n": 2})
    partial = await start_scripted(client, scripted_queue, "multi-branch", Script(failures={"variant/b": "rate limited"}), params={"variants": [{"id": "a"}, {"id": "b"}]})
    failed = await start_scripted(client, scripted_queue, "bug-finding", Script(answers={"discover/.*": '{"found": false}'}, usage={".*": (5, 1, 0.1)}), params={"target_area": "app.py"})
    await ok.result()
    await partial.result()
    with pytest.raises(WorkflowFailureError) as err:
        await failed.result()
    assert err.value.cause.message == "no bug found in app.py"
    assert err.value.cause.details == ({"instances_run": 1, "input_tokens": 5, "output_tokens": 1, "cost_usd": 0.1, "cost_estimated": False},)
    assert [await outcome(client, h) for h in (ok, partial, failed)] == ["success", "partial", "failed"]
    listed = {wf.id async for wf in client.list_workflows('OrchardOutcome = "failed"')}
    assert failed.id in listed and ok.id not in listed
