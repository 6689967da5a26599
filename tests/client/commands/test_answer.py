"""`orchard answer RUN CHOICE`: a run that waits for a person takes a choice it offers, with a
note and who gave it; what it cannot take is refused in one line and changes nothing. `orchard
run` says that its run waits, and how to answer."""

from __future__ import annotations

import asyncio
import getpass
import re

from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.conftest import ROOT, start_scripted
from tests.scripted import Script, until
from tests.workflows.sdk.test_questions import answer, open_questions
from workflows.sdk.models import RunProgress

ASKING = str(ROOT / "tests" / "strategy_files" / "asking.py")


async def test_orchard_run_says_its_run_waits_for_a_person_and_goes_on_once_answered(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, client):
    running = asyncio.create_task(orchard("run", "greet", "--strategy", ASKING, "--task-queue", scripted_queue, "--agent-command", "scripted",
                                          "--output", "quiet"))
    run_id = await scripted_runs.first_started(client, running)
    await open_questions(client.get_workflow_handle(run_id))
    await until(lambda: "waits for a person" in orchard.printed(), timeout=30)  # the command, following the run, said so
    await answer(client.get_workflow_handle(run_id), "go")
    said = await running
    assert said.code == 0, said.err
    assert said.err == f"orchard: run {run_id} waits for a person: Start work on 'greet'? [go / stop]; answer: orchard answer {run_id} CHOICE\n"
    assert said.lines[0].split()[:2] == [run_id, "success"]


async def test_answer_takes_an_offered_choice_and_says_who_gave_it(orchard: Orchard, client, scripted_queue):
    script = Script()
    handle = await start_scripted(client, scripted_queue, "asking", script, prompt="greet")
    await open_questions(handle)
    said = await orchard("answer", handle.id, "maybe")
    assert (said.code, said.out) == (2, "")
    assert said.err == "orchard: answer refused: 'maybe' is not a choice of question 'question/1'; choose one of: go, stop\n"
    assert len((await handle.query("progress", result_type=RunProgress)).questions) == 1  # the run is unchanged

    said = await orchard("answer", handle.id, "go", "--note", "looks safe")
    user = getpass.getuser()
    assert (said.code, said.out, said.err) == (0, f"run {handle.id}: question/1 answered 'go' by {user} (looks safe)\n", "")
    await handle.result()
    assert script.calls[0].task.prompt == "greet (go: looks safe)"
    said = await orchard("watch", handle.id, "--output", "streaming")  # the answer is in the run's record
    answered = rf"asked question/1: Start work on 'greet'\? -> 'go' by {user} \(looks safe\) at .* UTC"
    assert said.code == 0 and any(re.fullmatch(answered, line) for line in said.lines), said.out

    said = await orchard("answer", handle.id, "stop")
    assert (said.code, said.out, said.err) == (2, "", f"orchard: run {handle.id} is completed; it waits for no answer\n")


async def test_a_run_that_waits_for_several_answers_needs_the_question_s_key(orchard: Orchard, client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "asking", Script(), params={"together": True})
    await open_questions(handle, 2)
    said = await orchard("answer", handle.id, "go")
    assert said.code == 2 and said.err == "orchard: answer refused: the run waits for 2 answers; say which with --question KEY (first, second)\n"
    said = await orchard("answer", handle.id, "go", "--question", "first")
    assert said.code == 0 and said.out == f"run {handle.id}: first answered 'go' by {getpass.getuser()}\n"
    said = await orchard("answer", handle.id, "stop", "--question", "first")
    assert said.code == 2 and said.err.startswith(f"orchard: answer refused: question 'first' was already answered: 'go' (by {getpass.getuser()} at ")
    said = await orchard("answer", handle.id, "stop", "--question", "second")
    assert said.code == 0 and said.out == f"run {handle.id}: second answered 'stop' by {getpass.getuser()}\n"
    await handle.result()


async def test_a_run_that_asks_nothing_refuses_an_answer(orchard: Orchard, client, scripted_queue):
    hold = asyncio.Event()
    handle = await start_scripted(client, scripted_queue, "simple", script := Script(holds={"simple": hold}))
    await until(lambda: script.calls)
    said = await orchard("answer", handle.id, "go")
    assert said.code == 2 and said.out == "" and said.err.startswith("orchard: answer refused: ") and said.err.count("\n") == 1
    hold.set()
    await handle.result()
