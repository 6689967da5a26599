"""The loop workflow's decisions against scripted iterations: where each iteration starts, what
its prompt says, continue-as-new, steering (stop, nudge, extend), budgets, asking a person on
failure, a lost host, cancel. The real workspace, agent and git path has tests of its own
(tests/activities/loops/, tests/e2e/test_loops_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError

from client.commands.listing import cmd_list
from client.snapshots import outcome_of
from tests.conftest import final_result, run_scripted, start_scripted
from tests.scripted import BASE_COMMIT, Script, until
from workflows.loops.loop import LoopStrategy
from workflows.sdk.errors import ConfigError
from workflows.sdk.models import AnswerRequest, RunProgress, SteerRequest
from workflows.sdk.visibility import SA_OUTCOME

LEVELS = {"L0": ["ruff check ."], "L1": ["pytest -q"]}


def trail(result) -> list[tuple[int, str]]:
    return [(row.iteration, row.action) for row in result.instances[0].loop.trail]


async def steer(handle: WorkflowHandle, action: str, **fields) -> str:
    return await handle.execute_update("steer", SteerRequest(action=action, by="alice", **fields), result_type=str)


async def iteration_running(script: Script, n: int) -> None:
    await until(lambda: len(script.iterations) >= n)


async def test_fixed_iterates_from_each_commit_until_verification_passes(client, scripted_queue):
    script = Script(steps=[{"passed": ["L0"]}, {"passed": ["L0"]}, {"passed": ["L0", "L1"]}])
    result = await run_scripted(client, scripted_queue, "loop", script, prompt="make the tests pass",
                                params={"mode": "fixed", "max_iterations": 5, "verify": LEVELS})
    assert result.status == "success" and trail(result) == [(1, "continue"), (2, "continue"), (3, "complete")]
    loop = result.instances[0]
    starts = [i.start_commit for i in script.iterations]
    commits = [row.commit for row in loop.loop.trail]
    assert starts == [BASE_COMMIT, *commits[:2]]  # each iteration starts from the last one's commit
    assert loop.commit == commits[-1] and loop.branch_name and all(i.branch == loop.branch_name for i in script.iterations)
    assert loop.loop.trail[2].levels_passed == ["L0", "L1"] and loop.loop.trail[2].highest_level == "L1"
    assert script.iterations[0].task.prompt.strip() == "make the tests pass"
    second = script.iterations[1].task.prompt
    assert second.startswith("make the tests pass") and "iteration 2 of at most 5" in second
    assert "L1: `pytest -q` (exit" in second and "pytest -q failed" in second
    assert result.instances_run == 3 and script.finished  # the workspace went with the loop


async def test_a_long_loop_continues_as_new_and_keeps_its_whole_trail(client, scripted_queue):
    script = Script(steps=[{"cost": 0.01}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 5, "iterations_per_run": 2})
    result = await final_result(handle)
    assert result.status == "failed" and result.instances[0].status == "timeout"
    assert trail(result) == [(n, "continue") for n in range(1, 5)] + [(5, "timeout")]
    assert result.runs == 3 and result.instances_run == 5 and result.cost_usd == pytest.approx(0.05)
    assert [i.iteration for i in script.iterations] == list(range(1, 6))  # no iteration ran twice across the chain
    assert [i.start_commit for i in script.iterations][1:] == [row.commit for row in result.instances[0].loop.trail][:-1]


async def test_a_person_stops_nudges_and_extends_a_running_loop(client, scripted_queue):
    hold, last = asyncio.Event(), asyncio.Event()
    script = Script(steps=[{"hold": hold}, {}, {}, {"hold": last}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 2})
    await iteration_running(script, 1)
    assert await steer(handle, "nudge", text="prefer the standard library") == "added to iteration 2's prompt"
    assert await steer(handle, "extend", count=3) == "the loop may run 3 more iterations (0 done)"
    progress = await handle.query("progress", result_type=RunProgress)
    assert [p.key for p in progress.instances] == ["iteration/1"] and progress.instances[0].status == "running"
    hold.set()
    await iteration_running(script, 4)
    assert "A person steering this loop adds: prefer the standard library" in script.iterations[1].task.prompt
    assert "prefer the standard library" not in script.iterations[2].task.prompt  # a nudge is said once
    assert await steer(handle, "stop") == "the loop stops after iteration 4"
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await steer(handle, "stop")
    assert again.value.cause.message == "the loop was already asked to stop (by alice)"
    last.set()
    result = await handle.result()
    assert trail(result) == [(1, "continue"), (2, "continue"), (3, "continue"), (4, "stopped")]  # extended past the maximum of 2, stopped before 5
    assert result.status == "stopped" and result.instances[0].selection.reason == "stopped by a person (alice) after iteration 4"


async def test_a_loop_stopped_before_its_verification_passed_ends_stopped_not_success(client, scripted_queue, named_server, capsys):
    """`orchard loop stop` ended a loop `success`, exit 0, though its verification never passed: it
    is `stopped` now (its own exit code, `orchard list --status stopped`), unless the iteration it
    stopped after passed verification."""
    ends = {}
    for name, passed in (("unverified", []), ("verified", ["L0"])):
        hold = asyncio.Event()
        script = Script(steps=[{"hold": hold, "passed": passed}])  # hybrid goes on after a pass: no_changes is not met
        handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "hybrid", "completion": ["no_changes"], "verify": "ruff check ."})
        await iteration_running(script, 1)
        assert await steer(handle, "stop") == "the loop stops after iteration 1"
        hold.set()
        ends[name] = (handle, await outcome_of(handle))
    handle, stopped = ends["unverified"]
    (loop,) = stopped.result.instances
    assert (stopped.status, stopped.exit_code, loop.success, loop.status) == ("stopped", 5, False, "stopped")
    assert loop.error == "stopped by a person (alice) after iteration 1" and trail(stopped.result) == [(1, "stopped")]
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED and desc.typed_search_attributes.get(SA_OUTCOME) == "stopped"
    listing = argparse.Namespace(address=named_server, namespace=None, config=None, strategy="loop", repo=None, pipeline=None, status="stopped",
                                 waiting=False, children=False, limit=None, output="json")
    capsys.readouterr()
    assert await cmd_list(listing) == 0  # orchard list --status stopped
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"run_id": handle.id, "status": "stopped"}.items() <= next(r for r in rows if r["run_id"] == handle.id).items()
    assert ends["verified"][0].id not in [r["run_id"] for r in rows]
    _, verified = ends["verified"]
    assert (verified.status, verified.exit_code, verified.result.instances[0].success) == ("success", 0, True)


async def test_a_stop_asked_as_the_run_starts_is_kept_until_the_loop_can_take_it(client, scripted_queue):
    """Asked before the run has resolved its base or read its state (the first workflow task, as a
    chain's next run is in just after continuing as new): taken, not refused as "starting"."""
    script = Script(steps=[{}, {}, {}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 3})
    assert await steer(handle, "stop") in ("the loop takes the stop as soon as it has started", "the loop stops after iteration 1")
    result = await handle.result()
    assert len(trail(result)) <= 1 and "stopped by a person (alice)" in result.instances[0].selection.reason


REFUSED = [
    ("extend", {"count": 0}, "extend by 1 or more iterations (got 0)"),
    ("extend", {"count": 1999}, "a loop runs at most 2000 iterations; this one may run 2 already"),
    ("nudge", {"text": "  "}, 'a nudge needs text: orchard loop nudge RUN "TEXT"'),
    ("rewind", {}, "a loop takes stop, nudge or extend, not 'rewind'"),
]


async def test_steering_that_cannot_be_taken_is_refused_and_changes_nothing(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(steps=[{"hold": hold}, {}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 2})
    await iteration_running(script, 1)
    for action, fields, refusal in REFUSED:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await steer(handle, action, **fields)
        assert refused.value.cause.message == refusal
    hold.set()
    assert trail(await final_result(handle)) == [(1, "continue"), (2, "timeout")]


async def test_a_strategy_that_is_not_a_loop_takes_no_steering(client, scripted_queue):
    script = Script(holds={"candidate/1": (hold := asyncio.Event())})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 1})
    await until(lambda: script.calls)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await steer(handle, "stop")
    assert refused.value.cause.message == "a best-of-n run cannot be steered (`stop` is for loop runs)"
    hold.set()
    await handle.result()


async def test_budgets_end_the_loop_after_the_iteration_that_reaches_them(client, scripted_queue):
    script = Script(steps=[{"cost": 0.1}])
    result = await run_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 10, "max_cost_usd": 0.25})
    assert trail(result)[-1] == (3, "budget") and len(trail(result)) == 3
    assert result.instances[0].error == "spent $0.3000 of the $0.25 budget in 3 iterations" and result.status == "failed"
    timed = await run_scripted(client, scripted_queue, "loop", Script(steps=[{"delay": 0.3}]), params={"mode": "ralph", "max_duration": "0.5s"})
    ran = re.fullmatch(r"ran (\d+\.\d)s of the 0.5s allowed in (\d+) iterations", timed.instances[0].error)
    assert ran and float(ran[1]) >= 0.5 and trail(timed)[-1] == (int(ran[2]), "budget")  # how many fit depends on the machine's load


async def test_a_failed_loop_asks_a_person_who_retries_then_accepts_the_partial_result(client, scripted_queue):
    script = Script(steps=[{"tree": "same", "passed": ["L0"]}])  # stuck: the same content and results every time
    handle = await start_scripted(client, scripted_queue, "loop", script, params={
        "mode": "hybrid", "completion": ["verification_pass"], "verify": LEVELS, "on_fail": "ask", "retry_iterations": 2})
    progress = await until(lambda: _asked(handle))
    question = progress.questions[0]
    assert question.key == "on-fail/1" and question.choices == ["retry", "accept", "fail"] and "retry: 2 more iterations" in question.text
    await handle.execute_update("answer", AnswerRequest(choice="retry", by="bob"), result_type=None)
    await until(lambda: _asked(handle, "on-fail/2"))
    await handle.execute_update("answer", AnswerRequest(choice="accept", by="bob"), result_type=None)
    result = await handle.result()
    loop = result.instances[0]
    assert result.status == "success" and loop.loop.partial is True and loop.loop.action == "complete"
    rows = loop.loop.trail
    assert "bob chose retry: 2 more iterations" in rows[2].reason and rows[-1].action == "complete" and "bob accepted the partial result" in rows[-1].reason
    assert len(rows) == 4 and [a.choice for a in result.questions] == ["retry", "accept"]


async def _asked(handle: WorkflowHandle, key: str = "on-fail/1") -> RunProgress | None:
    progress = await handle.query("progress", result_type=RunProgress)
    return progress if any(q.key == key for q in progress.questions) else None


async def test_an_iteration_whose_host_is_gone_runs_on_another_host(client, scripted_queue):
    script = Script(lost_hosts=1)
    result = await run_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 2, "host_timeout": 0.5})
    assert trail(result) == [(1, "continue"), (2, "timeout")]
    assert [i.attempt_key for i in script.iterations] == ["1.1", "2.0"]  # the first host never took iteration 1
    assert all(row.host.endswith("@scripted-host") for row in result.instances[0].loop.trail)


async def test_a_canceled_loop_stops_its_iteration_and_removes_its_workspace(client, scripted_queue):
    script = Script(steps=[{}, {"hold": asyncio.Event()}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 5})
    await iteration_running(script, 2)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert script.finished == [scripted_queue + "@scripted-host"]


async def test_resume_hands_each_iteration_the_last_session_and_ralph_writes_its_state(client, scripted_queue):
    script = Script(steps=[{"session": "s-1", "output": "working"}, {"session": "s-1", "output": "all done: TASK_COMPLETE"}])
    result = await run_scripted(client, scripted_queue, "loop", script, params={"mode": "ralph", "context": "resume", "state_dir": ".loop"})
    assert trail(result) == [(1, "continue"), (2, "complete")]
    assert [i.session_id for i in script.iterations] == [None, "s-1"]
    files = script.iterations[1].files
    assert set(files) == {".loop/loop-state.json", ".loop/metrics.json"} and '"iteration"' in files[".loop/loop-state.json"]


@pytest.mark.parametrize("params, message", [
    ({"mode": "hybird"}, "unknown loop mode 'hybird'; available: custom, fixed, hybrid, ralph (did you mean 'hybrid'?)"),
    ({"mode": "fixed", "similarity_threshold": "0.5"}, "similarity_threshold is not a setting of loop mode 'fixed'; it takes: completion, max_iterations"),
    ({"verify": {"L7": "make"}}, "verify: unknown level 'L7'; levels are L0, L1, L2, L3"),
    ({"feedback_template": "{{ tsk }}"}, "feedback_template uses tsk, which the loop does not give"),
    ({"max_duration": "soon"}, "'soon' is not a duration"),
])
def test_bad_loop_parameters_are_one_clear_line(params, message):
    with pytest.raises(ConfigError) as err:
        LoopStrategy.normalize_params(params)
    assert message in str(err.value)


def test_steering_asked_while_a_run_of_the_chain_starts_is_kept_and_applied_once_it_has():
    """Just after continuing as new the loop has not read its state yet: a stop, a nudge or an
    extend asked then is kept (a second stop is refused), not refused with "try again"."""
    from workflows.loops.loop import LoopStrategy
    from workflows.sdk.errors import SteerRefused

    loop = LoopStrategy(params={"mode": "fixed", "max_iterations": 2})
    for request in (SteerRequest(action="nudge", text="use pathlib", by="ana"), SteerRequest(action="stop", by="ana")):
        loop.check_steer(request)
        assert loop.steer(request) == f"the loop takes the {request.action} as soon as it has started"
    with pytest.raises(SteerRefused, match=r"already asked to stop \(by ana\)"):
        loop.check_steer(SteerRequest(action="stop", by="bo"))
    with pytest.raises(SteerRefused, match="a nudge needs text"):
        loop.check_steer(SteerRequest(action="nudge", text=" ", by="bo"))
    assert [r.action for r in loop._early] == ["nudge", "stop"] and LoopStrategy()._early == []


async def test_on_a_remote_the_workflow_tries_an_iteration_again_itself_so_a_lost_host_is_left_at_once(client, scripted_queue):
    """On a remote a host whose heartbeats stop is left for another at once (sdk/hosts.py): Temporal
    tries each iteration once (so the heartbeat timeout reaches the loop), and the loop tries a
    failed one again as Temporal would have (a local loop's is retried by Temporal, on its host)."""
    script = Script(steps=[{"flaky": True}, {}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 2}, repo="git://git.invalid/p.git")
    result = await final_result(handle)
    assert trail(result) == [(1, "continue"), (2, "timeout")]
    assert [i.attempt_key for i in script.iterations] == ["1.0", "1.0", "2.0"]  # the same try again, on the same host
    scheduled = [e.activity_task_scheduled_event_attributes async for e in handle.fetch_history_events()
                 if e.HasField("activity_task_scheduled_event_attributes")]
    tries = [a.retry_policy.maximum_attempts for a in scheduled if a.activity_type.name == "run_iteration"]
    assert tries == [1, 1, 1]  # iteration 1 scheduled twice, by the loop
