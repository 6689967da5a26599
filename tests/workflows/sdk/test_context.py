"""`ctx` against scripted activities: keys, wait and wait_all, the run's defaults in a task, and
max_parallel bounding the instances running at once."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from tests.conftest import run_scripted, start_scripted
from tests.scripted import Script


def most_at_once(events: list[str]) -> int:
    running = peak = 0
    for event in events:
        running += 1 if event.startswith("start ") else -1
        peak = max(peak, running)
    return peak


async def test_reusing_a_key_for_another_task_fails_the_run_clearly(client, scripted_queue):
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "reuse-key", Script())
    assert err.value.cause.message == "key 'same' was already used for a different task; use ctx.key(...) to make keys unique"


async def test_keys_are_built_from_parts_and_tasks_take_the_runs_defaults(client, scripted_queue):
    script = Script()
    await run_scripted(client, scripted_queue, "fan-out", script, params={"n": 2, "model": "opus"}, timeout=60, max_turns=3)
    assert sorted(script.started_keys()) == ["gen/1", "gen/2"]
    task = script.call("gen/2").task
    assert (task.prompt, task.base_branch, task.model) == ("add a greeting\n\nVariant #2", "main", "opus")
    assert (task.agent_command, task.timeout, task.max_turns) == ("scripted", 60, 3)
    assert script.call("gen/2").branch.startswith("orchard/fan-out/run_scripted_")


async def test_wait_raises_for_a_failed_instance_and_the_run_fails_with_its_reason(client, scripted_queue):
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "my-simple", Script(failures={"gen": "agent exited with code 1: boom"}))
    assert err.value.cause.message == "instance 'gen' failed: agent exited with code 1: boom"


async def test_wait_all_tolerating_failures_splits_successes_from_failures(client, scripted_queue):
    some = await run_scripted(client, scripted_queue, "fan-out", Script(failures={"gen/2": "agent exited with code 1: boom"}), params={"n": 3})
    assert [r.key for r in some.instances] == ["gen/1", "gen/3"] and some.status == "success"  # fan-out returns the successes
    none = await run_scripted(client, scripted_queue, "fan-out", Script(failures={"gen/.*": "agent exited with code 1: boom"}), params={"n": 2})
    assert [r.key for r in none.instances] == ["gen/1", "gen/2"] and none.status == "failed"  # ...or else the failures


@pytest.mark.parametrize("max_parallel", [1, 2])
async def test_max_parallel_bounds_the_instances_running_at_once(client, scripted_queue, max_parallel):
    script = Script(delays={"gen/.*": 0.05})
    result = await run_scripted(client, scripted_queue, "fan-out", script, params={"n": 3}, max_parallel=max_parallel)
    assert len(result.instances) == 3
    assert most_at_once(script.events) == max_parallel
    if max_parallel == 1:
        assert [e.split()[0] for e in script.events] == ["start", "end"] * 3


async def test_a_randomized_queue_starts_instances_in_a_random_order_that_replays_identically(client, scripted_queue):
    from client.commands.replay import replay
    from tests.conftest import ROOT, start_scripted

    orders = []
    for _ in range(2):
        script = Script()
        handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 8}, max_parallel=2, run={"randomize_queue": True})
        await handle.result()
        orders.append(script.started_keys())
        history = await handle.fetch_history()
        assert "deterministic" in await replay(history.to_json(), handle.id, str(ROOT / "examples" / "fanout_two.py"))
    for order in orders:
        assert sorted(order) == [f"gen/{i}" for i in range(1, 9)] and order != sorted(order)
    assert orders[0] != orders[1]  # each run draws its own order
    fifo = Script()
    await run_scripted(client, scripted_queue, "fan-out", fifo, params={"n": 8}, max_parallel=2)
    assert fifo.started_keys() == [f"gen/{i}" for i in range(1, 9)]


async def test_the_flat_branch_namespace_names_branches_after_the_run_alone(client, scripted_queue):
    from workflows.sdk.models import key_hash8

    script = Script()
    result = await run_scripted(client, scripted_queue, "fan-out", script, params={"n": 2}, run={"branch_namespace": "flat"})
    assert script.call("gen/1").branch == f"orchard/{result.run_id}-k{key_hash8('gen/1')}"


async def test_a_run_given_its_base_commit_starts_from_it_without_resolving_its_branch(client, scripted_queue):
    """The client resolves the base while it checks its input: the run does not resolve it again
    (one activity and one workflow task fewer before the first agent)."""
    script = Script()
    given = "c" * 40
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 1}, run={"base_commit": given})
    result = await handle.result()
    assert result.base_commit == given and script.call("gen/1").base_commit == given
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name async for e in handle.fetch_history_events()
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == ["run_instance"]
