"""`orchard list`: runs from Temporal visibility, by repository, strategy and status, a table or
JSON lines; a child strategy's run only with --children."""

from __future__ import annotations

import json

from temporalio.client import Client, WorkflowExecutionStatus

from tests.client.commands.conftest import Orchard, unique_repo
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from tests.workflows.sdk.test_questions import answer, open_questions
from workflows.sdk.visibility import SA_OUTCOME, SA_WAITING


async def listed(client: Client, repo: str, expected: dict[str, str]) -> None:
    """Until visibility (which `orchard list` reads) has the runs on `repo` as they are: by id, their
    outcome once completed, "waiting" while one waits for a person, else their Temporal status."""
    async def settled() -> bool:
        found = {}
        async for wf in client.list_workflows(f'OrchardRepo = "{repo}"'):
            outcome, status = wf.typed_search_attributes.get(SA_OUTCOME), wf.status
            if status == WorkflowExecutionStatus.RUNNING and wf.typed_search_attributes.get(SA_WAITING):
                found[wf.id] = "waiting"
            else:
                found[wf.id] = outcome if status == WorkflowExecutionStatus.COMPLETED and outcome else (status.name.lower() if status else "?")
        return found == expected

    await until(settled)


async def test_list_finds_runs_by_repository_strategy_and_status(orchard: Orchard, client, scripted_queue):
    repo = unique_repo()
    done = await start_scripted(client, scripted_queue, "simple", Script(), repo=repo)
    partial = await start_scripted(client, scripted_queue, "best-of-n", Script(failures={"candidate/2": "no"}), params={"n": 2}, repo=repo)
    failed = await start_scripted(client, scripted_queue, "simple", Script(failures={".*": "no"}), repo=repo)
    waiting = await start_scripted(client, scripted_queue, "asking", Script(), repo=repo)
    for handle in (done, partial, failed):
        await final_result(handle)
    await open_questions(waiting)
    await listed(client, repo, {done.id: "success", partial.id: "partial", failed.id: "failed", waiting.id: "waiting"})

    said = await orchard("list", "--repo", repo)
    assert said.code == 0, said.err
    assert said.lines[0].split() == ["run", "strategy", "status", "started", "repo"]
    rows = {line.split()[0]: line.split() for line in said.lines[1:]}
    assert {run_id: (row[1], row[2], row[4]) for run_id, row in rows.items()} == {
        done.id: ("simple", "success", repo), partial.id: ("best-of-n", "partial", repo), failed.id: ("simple", "failed", repo),
        waiting.id: ("asking", "waiting", repo),
    }
    said = await orchard("list", "--repo", repo, "--output", "json")
    by_id = {row["run_id"]: row for row in map(json.loads, said.lines)}
    assert by_id[waiting.id]["waiting"] is True and by_id[waiting.id]["status"] == "running" and by_id[done.id]["waiting"] is False
    assert by_id[done.id]["started"] and by_id[done.id]["parent"] is None

    async def ids(*argv: str) -> list[str]:
        said = await orchard("list", "--repo", repo, *argv)
        assert said.code == 0, said.err
        return sorted(line.split()[0] for line in said.lines[1:])

    assert await ids("--status", "success") == [done.id]
    assert await ids("--status", "failed") == [failed.id]
    assert await ids("--status", "running") == await ids("--waiting") == [waiting.id]
    assert await ids("--strategy", "best-of-n") == [partial.id]
    assert len(await ids("--limit", "2")) == 2
    said = await orchard("list", "--repo", repo, "--status", "canceled")
    assert (said.code, said.out, said.err) == (0, "", "no runs\n")
    await answer(waiting, "stop")  # answered, not terminated: a run left open in the scripted worker is finalized at exit, outside its loop
    await final_result(waiting)


async def test_a_child_strategy_s_runs_are_listed_with_children_only(orchard: Orchard, client, scripted_queue):
    repo = unique_repo()
    parent = await start_scripted(client, scripted_queue, "composed", Script(), repo=repo)
    result = await final_result(parent)
    children = sorted(c.run_id for c in result.children)
    assert len(children) == 3
    await until(lambda: listed_count(client, repo, 4))
    said = await orchard("list", "--repo", repo, "--output", "json")
    assert [row["run_id"] for row in map(json.loads, said.lines)] == [parent.id]
    said = await orchard("list", "--repo", repo, "--children", "--output", "json")
    rows = {row["run_id"]: row for row in map(json.loads, said.lines)}
    assert sorted(rows) == sorted([parent.id, *children])
    assert rows[parent.id]["parent"] is None and all(rows[c]["parent"] == parent.id for c in children)


async def listed_count(client: Client, repo: str, count: int) -> bool:
    return len([wf async for wf in client.list_workflows(f'OrchardRepo = "{repo}"')]) == count
