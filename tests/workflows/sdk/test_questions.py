"""ctx.ask: a run waits for a person, is found while it waits, takes only valid answers, records
who answered, and takes the default when nobody answers in time (scripted activities)."""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from tests.conftest import start_scripted
from tests.scripted import Script
from workflows.sdk.models import Answer, AnswerRequest, RunProgress


async def open_questions(handle: WorkflowHandle, count: int = 1) -> RunProgress:
    """The run's progress once it waits for `count` questions (within 30 s: a loaded machine's timers
    and tasks run late, and a question may come after a lock's timeout and a rollback)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        progress = await handle.query("progress", result_type=RunProgress)
        if len(progress.questions) >= count:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError("the run never asked")


async def answer(handle: WorkflowHandle, choice: str, **fields) -> Answer:
    return await handle.execute_update("answer", AnswerRequest(choice=choice, by=fields.pop("by", "alice"), **fields), result_type=Answer)


async def waiting_ids(client: Client) -> set[str]:
    return {wf.id async for wf in client.list_workflows('OrchardWaiting = true AND ExecutionStatus = "Running"')}


async def test_a_waiting_run_shows_its_question_and_takes_a_valid_answer(client, scripted_queue):
    script = Script()
    handle = await start_scripted(client, scripted_queue, "asking", script, prompt="greet")
    progress = await open_questions(handle)
    (question,) = progress.questions
    assert (question.key, question.text, question.choices) == ("question/1", "Start work on 'greet'?", ["go", "stop"])
    assert progress.phase == "waiting for a person (question/1)" and script.calls == []  # nothing runs while it waits
    desc = await handle.describe()
    assert (await desc.memo())["questions"][0]["text"] == "Start work on 'greet'?"  # readable without a worker
    assert handle.id in await waiting_ids(client)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await answer(handle, "maybe")
    assert refused.value.cause.message == "'maybe' is not a choice of question 'question/1'; choose one of: go, stop"
    assert len((await handle.query("progress", result_type=RunProgress)).questions) == 1  # the run is unchanged

    taken = await answer(handle, "go", note="looks safe")
    assert (taken.choice, taken.by, taken.note, taken.timed_out) == ("go", "alice", "looks safe", False)
    result = await handle.result()
    assert script.calls[0].task.prompt == "greet (go: looks safe)"
    assert [(a.key, a.choice, a.by) for a in result.questions] == [("question/1", "go", "alice")]
    assert handle.id not in await waiting_ids(client)
    # The answer and who gave it are in the history, as the update's input.
    accepted = [e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) == 1
    assert b'"by":"alice"' in accepted[0].workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0].data

    with pytest.raises(RPCError, match="already completed"):  # the run is over: nothing takes an answer
        await answer(handle, "stop")


async def test_an_answered_question_is_refused_and_several_need_a_key(client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "asking", Script(), params={"together": True})
    await open_questions(handle, 2)
    with pytest.raises(WorkflowUpdateFailedError) as which:
        await answer(handle, "go")
    assert which.value.cause.message == "the run waits for 2 answers; say which with --question KEY (first, second)"
    await answer(handle, "go", key="first")
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await answer(handle, "stop", key="first", by="bob")
    assert again.value.cause.message.startswith("question 'first' was already answered: 'go' (by alice at ")
    await answer(handle, "stop", key="second", by="bob")
    result = await handle.result()
    assert [(a.key, a.choice, a.by) for a in result.questions] == [("first", "go", "alice"), ("second", "stop", "bob")]


async def test_nobody_answering_in_time_takes_the_default_and_says_so(client, scripted_queue):
    script = Script()
    handle = await start_scripted(client, scripted_queue, "asking", script, params={"default": "go", "timeout": 0.3})
    progress = await open_questions(handle)
    assert progress.questions[0].deadline is not None and progress.questions[0].default == "go"
    result = await handle.result()
    (taken,) = result.questions
    assert taken.timed_out and taken.choice == "go" and taken.by == ""
    assert script.calls[0].task.prompt.endswith("(go)")
    assert handle.id not in await waiting_ids(client)


async def test_a_bad_question_fails_the_run_clearly(client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "asking", Script(), params={"timeout": 5})
    with pytest.raises(Exception) as failed:
        await handle.result()
    assert failed.value.cause.message == "ctx.ask 'question/1': a timeout needs a default to take when it passes"


async def test_best_of_n_with_approve_lets_a_person_pick_another_candidate(client, scripted_queue):
    script = Script(answers={"score/1/1": '{"score": 9}', "score/2/1": '{"score": 4}', "score/3/1": '{"score": 6}'})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "approve": True})
    progress = await open_questions(handle)
    (question,) = progress.questions
    assert question.key == "approve" and question.choices == ["1", "2", "3"] and question.default == "1"
    assert question.text.startswith("best-of-n picked candidate 1 (highest score 9/10). Confirm it or pick another: 1: ")
    await answer(handle, "3", note="smaller diff")
    result = await handle.result()
    winner = result.instances[0]
    assert winner.selection.candidate == 3 and winner.selection.winner is True
    assert winner.selection.reason == "chosen by alice over candidate 1 (highest score 9/10): smaller diff"
    assert winner.selection.approval.by == "alice"
    assert [c.selection.winner for c in result.instances] == [True, False, False]


async def test_best_of_n_approval_that_times_out_keeps_the_scored_winner(client, scripted_queue):
    script = Script(answers={"score/1/1": '{"score": 3}', "score/2/1": '{"score": 8}'})
    result = await (await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2, "approve": True, "approve_timeout": 0.2})).result()
    winner = result.instances[0]
    assert winner.selection.candidate == 2
    assert winner.selection.reason == "highest score 8/10; nobody answered within 0.2s, so it stands"
    assert result.questions[0].timed_out
