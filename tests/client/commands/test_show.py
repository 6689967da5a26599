"""`orchard show RUN` (a run's status and results, ended or running) and `orchard show --experiment
NAME` (which run of a round-robin experiment used which variant)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from workflows.sdk.models import RunResult


async def test_show_of_an_ended_run_gives_its_results_and_winner(orchard: Orchard, scripted_runs: ScriptedRuns, client, scripted_queue, repo: Path):
    scripted_runs.scripts.append(Script(failures={"candidate/2": "the agent gave up"}))
    started = await orchard("run", "greet", "--strategy", "best-of-n", "-S", "n=2", "--task-queue", scripted_queue, "--agent-command", "scripted", "--detach")
    assert started.code == 0, started.err
    handle = client.get_workflow_handle(scripted_runs.started[0], result_type=RunResult)
    result = await final_result(handle)
    winner = next(r for r in result.instances if r.selection and r.selection.winner)
    said = await orchard("show", handle.id)
    assert said.code == 0, said.err
    assert said.lines[0] == f"run {handle.id}  strategy best-of-n  repo {repo}  base main"
    assert re.fullmatch(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  prompt: greet", said.lines[1]), said.lines[1]
    assert f"winner: {winner.branch_name} ({winner.selection.reason})" in said.lines
    assert any("candidate/2" in line and "failed" in line and "the agent gave up" in line for line in said.lines)
    assert said.lines[-1].startswith(f"run {handle.id}: partial in ")

    said = await orchard("show", handle.id, "--output", "json")
    shown = json.loads(said.out)
    assert said.code == 0 and (shown["run_id"], shown["status"], shown["exit_code"], shown["strategy"]) == (handle.id, "partial", 3, "best-of-n")
    assert [i["key"] for i in shown["instances"]] == [r.key for r in result.instances] and shown["started"]


async def test_show_of_a_running_run_says_what_runs_now(orchard: Orchard, client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"simple": hold})
    handle = await start_scripted(client, scripted_queue, "simple", script)
    await until(lambda: script.calls)
    said = await orchard("show", handle.id)
    assert said.code == 0, said.err
    assert any(line.startswith("simple") and "running" in line for line in said.lines), said.out
    assert said.lines[-1] == f"run {handle.id}: running: still running"
    shown = json.loads((await orchard("show", handle.id, "--output", "json")).out)
    assert (shown["status"], [(i["key"], i["status"]) for i in shown["instances"]]) == ("running", [("simple", "running")])
    hold.set()
    await handle.result()


@pytest.mark.parametrize("argv", [[], ["run_x", "--experiment", "e"]])
async def test_show_needs_a_run_or_an_experiment(orchard: Orchard, argv: list[str]):
    said = await orchard("show", *argv)
    assert (said.code, said.out, said.err) == (2, "", "orchard: orchard show needs a RUN or --experiment NAME (not both)\n")


async def test_show_experiment_lists_each_run_s_variant_and_outcome(orchard: Orchard, client, scripted_queue, repo: Path):
    name = f"exp-{uuid.uuid4().hex[:8]}"
    params = {"experiment": name, "variants": [{"id": "terse"}, {"id": "verbose"}]}
    runs = []
    for _ in range(3):  # one after the other: each takes the next turn
        runs.append(await start_scripted(client, scripted_queue, "round-robin", Script(failures={"variant/verbose": "no"}), params=params, repo=str(repo)))
        await final_result(runs[-1])
    said = await orchard("show", "--experiment", name)
    assert said.code == 0, said.err
    assert said.lines[0] == f"experiment {name}  repo {repo}  3 turns taken"
    rows = [line.split()[:4] for line in said.lines[1:]]
    assert rows == [["0", runs[0].id, "terse", "success"], ["1", runs[1].id, "verbose", "failed"], ["2", runs[2].id, "terse", "success"]]
    shown = json.loads((await orchard("show", "--experiment", name, "--output", "json")).out)
    assert [(t["run_id"], t["variant"]) for t in shown["turns"]] == [(runs[0].id, "terse"), (runs[1].id, "verbose"), (runs[2].id, "terse")]
    said = await orchard("show", "--experiment", "never-ran")
    assert said.code == 2 and said.err == (f"orchard: no experiment 'never-ran' on {repo}; start one with "
                                           "`orchard run --strategy round-robin -S experiment=never-ran -S variants=...`\n")
