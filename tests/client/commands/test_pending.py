"""`orchard pending`: every question that runs wait for a person to answer, and how to answer it."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.client.commands.conftest import Orchard
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from tests.workflows.sdk.test_questions import answer, open_questions


def rows_of(out: str, run_id: str) -> list[str]:
    """The lines `orchard pending` prints for one run (every run that waits is listed: other tests' too)."""
    lines, mine = out.splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith(f"{run_id}  "):
            mine += lines[i:i + 4]
    return mine


async def test_pending_lists_each_question_with_its_choices_and_the_command_that_answers_it(orchard: Orchard, client, scripted_queue):
    one = await start_scripted(client, scripted_queue, "asking", Script(), prompt="greet")
    two = await start_scripted(client, scripted_queue, "asking", Script(), params={"together": True, "choices": []})
    await open_questions(one)
    await open_questions(two, 2)

    async def both_found() -> bool:  # by visibility, which `orchard pending` reads
        return (await client.count_workflows(f'OrchardWaiting = true AND WorkflowId IN ("{one.id}", "{two.id}")')).count == 2

    await until(both_found)

    said = await orchard("pending")
    assert said.code == 0, said.err
    asked, text, offered, how = rows_of(said.out, one.id)
    assert re.fullmatch(rf"{one.id}  asking  question/1  asked \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d UTC", asked), asked
    assert (text, offered, how) == ("  Start work on 'greet'?", "  choices: go, stop", f"  answer: orchard answer {one.id} CHOICE")
    mine = rows_of(said.out, two.id)
    assert [mine[i].split("  ")[2] for i in (0, 4)] == ["first", "second"]
    assert mine[2] == "  (any text)"  # no choices: any answer is taken
    assert (mine[3], mine[7]) == (f"  answer: orchard answer {two.id} CHOICE --question first", f"  answer: orchard answer {two.id} CHOICE --question second")

    said = await orchard("pending", "--output", "json")
    rows = [row for row in map(json.loads, said.lines) if row["run_id"] == one.id]
    assert [(r["strategy"], r["key"], r["text"], r["choices"], r["repo"]) for r in rows] == [
        ("asking", "question/1", "Start work on 'greet'?", ["go", "stop"], "/scripted/repo")]
    await answer(one, "stop")  # answered, not terminated: a run left open in the scripted worker is finalized at exit, outside its loop
    for key in ("first", "second"):
        await answer(two, "go", key=key)
    await asyncio.gather(final_result(one), final_result(two))


async def test_pending_says_so_when_no_run_waits(orchard: Orchard, monkeypatch: pytest.MonkeyPatch):
    from client.commands import pending

    monkeypatch.setattr(pending, "WAITING_RUNS", pending.WAITING_RUNS + ' AND OrchardRepo = "/nowhere"')  # this server's other runs aside
    said = await orchard("pending")
    assert (said.code, said.out, said.err) == (0, "", "no run waits for an answer\n")
    said = await orchard("pending", "--output", "json")
    assert (said.code, said.out, said.err) == (0, "", "")


async def test_pending_lists_the_runs_waiting_for_quota_with_their_reset(orchard: Orchard, client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "my-simple", Script(limits={"gen": [600.0]}))

    async def in_memo() -> bool:  # by visibility, which `orchard pending` reads
        return bool((await (await handle.describe()).memo()).get("quota_until"))

    await until(in_memo)
    said = await orchard("pending")
    (line,) = [line for line in said.lines if line.startswith(f"{handle.id}  ")]
    assert re.fullmatch(rf"{handle.id}  my-simple  waiting for quota until \d\d:\d\d( on \d{{4}}-\d\d-\d\d)?", line), line
    rows = [json.loads(line) for line in (await orchard("pending", "--output", "json")).lines]
    assert any(row["run_id"] == handle.id and row["quota_until"] for row in rows)
    await handle.cancel()


@pytest.mark.parametrize("strategy, limits, params", [
    ("loop", {"loop/1": [600.0]}, {"mode": "fixed", "max_iterations": 1}),
    ("fan-out", {"gen/2": [600.0]}, {"n": 2}),  # gen/2 runs in a batch child workflow
])
async def test_pending_lists_a_loop_and_a_run_whose_batch_wait_for_quota(orchard: Orchard, client, scripted_queue, strategy, limits, params):
    run = {"instances_per_history": 1} if strategy == "fan-out" else None
    handle = await start_scripted(client, scripted_queue, strategy, Script(limits=limits), params=params, run=run)

    async def in_memo() -> bool:
        return bool((await (await handle.describe()).memo()).get("quota_until"))

    await until(in_memo)
    said = await orchard("pending")
    (line,) = [line for line in said.lines if line.startswith(f"{handle.id}  ")]
    assert re.fullmatch(rf"{handle.id}  {strategy}  waiting for quota until \d\d:\d\d( on \d{{4}}-\d\d-\d\d)?", line), line
    await handle.cancel()
