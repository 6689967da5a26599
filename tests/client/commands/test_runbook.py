"""`orchard runbook run|worker|emit` against a server: a pipeline run to its end, a worker's status,
an event sent to the runs that wait for it. (validate, list, show, render, items and how `run`
reads its arguments: tests/client/runbooks/test_cli.py; queue workers end to end: tests/e2e.)"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.worker import Worker

from tests.activities.coordination.test_events import Waiter, start_waiter, told, waiting
from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.scripted import until

OPS = """
[pipeline.ship]
inputs = ["name"]
[[pipeline.ship.phase]]
name = "build"
run = "echo build {name}"
[[pipeline.ship.phase]]
name = "test"
run = "echo test {name}"

[worker.fixer]
queue = "bugs"
handler = "pipeline.ship"
[queue.bugs]
source = "cat bugs.json"
"""


@pytest.fixture
def runbooks(repo: Path) -> Path:
    (repo / "runbooks").mkdir()
    (repo / "runbooks" / "ops.toml").write_text(OPS)
    return repo / "runbooks"


async def test_runbook_run_starts_the_pipeline_and_follows_it_to_its_end(orchard: Orchard, scripted_runs: ScriptedRuns, runbooks: Path, scripted_queue, client):
    said = await orchard("runbook", "run", "ops.ship", "-i", "name=auth", "--task-queue", scripted_queue, "--output", "json")
    assert said.code == 0, said.err
    (run_id,) = scripted_runs.started
    result = json.loads(said.lines[-1])
    assert (result["run_id"], result["status"], result["strategy"]) == (run_id, "success", "runbook")
    assert [row["phase"] for row in result["instances"][0]["metadata"]["phases"]] == ["build", "test"]
    memo = await (await client.get_workflow_handle(run_id).describe()).memo()
    assert memo["params"]["pipeline"] == "ops.pipeline.ship" and memo["params"]["inputs"] == {"name": "auth"}

    async def listed() -> list[str]:
        said = await orchard("list", "--pipeline", "ops.ship", "--repo", str(runbooks.parent), "--output", "json")
        return [row["run_id"] for row in map(json.loads, said.lines)]

    assert await until(listed) == [run_id]  # found by its pipeline


async def test_runbook_worker_status_of_a_worker_that_never_ran_says_how_to_start_it(orchard: Orchard, runbooks: Path):
    said = await orchard("runbook", "worker", "status", "ops.fixer")
    assert (said.code, said.out, said.err) == (0, "worker fixer has not run on this repository (start it: orchard runbook worker start ops.fixer)\n", "")
    said = await orchard("runbook", "worker", "status", "ops.fixr")
    assert said.code == 2 and said.out == "" and "fixr" in said.err and said.err.count("\n") == 1


async def test_runbook_emit_tells_the_runs_on_this_repository_that_wait_for_the_event(orchard: Orchard, client, repo: Path):
    queue = f"emit-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[Waiter]):
        bugs = await start_waiter(client, queue, str(repo), "bug:*")
        merges = await start_waiter(client, queue, str(repo), "pipeline:*:merged")
        await waiting(client, str(repo), 2)
        said = await orchard("runbook", "emit", "bug:created")
        assert (said.code, said.out, said.err) == (0, "bug:created: 1 waiting run told\n", "")
        assert await until(lambda: told(bugs, 1)) == ["bug:created"] and await merges.query(Waiter.events) == []
        said = await orchard("runbook", "emit", "deploy:done")
        assert (said.code, said.out) == (0, "deploy:done: 0 waiting runs told\n")
        for event, says in (("bug:*", "event 'bug:*': an event is plain words (patterns with * or {variables} are what runs wait for)"),
                            ("created", "has one word")):
            said = await orchard("runbook", "emit", event)
            assert said.code == 2 and said.out == "" and says in said.err and said.err.count("\n") == 1, said.err
        for handle in (bugs, merges):
            await handle.terminate("the test is over")
