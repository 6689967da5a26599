"""Pipeline runs and queue workers of runbooks written in otters' idioms (issue 26), on the real
worker: real git, real commands. What a user checks: the branch the run worked on, what its
commands printed and ran, the items its worker took."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid

import pytest

from tests.conftest import final_result, git
from tests.workflows.runbooks.test_pipeline import bundle, start, start_worker
from workflows.sdk.models import RunInput, RunProgress, RunResult, SteerRequest, TaskDefaults

pytestmark = pytest.mark.slow  # real git and commands on the real worker


async def test_a_branch_default_names_the_branch_the_pipeline_works_on(client, task_queue, repo, tmp_path):
    """Item 1: otters' `branch = "fix/{bug.id}"` is the run's branch; `{branch}`, `{workspace}` and
    `{pipeline}` are the runbook's where it names them, Orchard's otherwise, and Orchard's always
    as orchard.NAME. The branch is the run's own: made new, pushed to (here deleted) by its steps,
    and never taken over when it is already there."""
    runbooks = bundle(tmp_path, '''
        [pipeline.fix]
        inputs = ["bug", "cleanup"]
        [pipeline.fix.defaults]
        branch = "fix/{bug.id}"
        workspace = ".worktrees/fix-{bug.id}"
        cleanup = ""
        [[pipeline.fix.phase]]
        name = "work"
        run = "echo {bug.id} {orchard.run_id} > fix.txt && echo {branch} {orchard.branch} {workspace} {orchard.workspace} {pipeline} {orchard.pipeline}"
        [[pipeline.fix.phase]]
        name = "cleanup"
        run = "test -z '{cleanup}' || git push -q origin --delete {branch}"
    ''', "fix")
    handle = await start(client, task_queue, repo, runbooks, "fix", {"bug": {"id": 7}})
    (pipeline,) = (await final_result(handle)).instances
    assert pipeline.success, pipeline.error
    first = await handle.describe()
    assert pipeline.branch_name == "fix/7" and git(repo, "show", "fix/7:fix.txt") == f"7 {first.id}"
    assert pipeline.pipeline.outputs["work"] == "fix/7 fix/7 .worktrees/fix-7 . fix fix"

    again = await final_result(await start(client, task_queue, repo, runbooks, "fix", {"bug": {"id": 7}}))
    (refused,) = again.instances
    assert not refused.success and "the branch fix/7 is there already" in (refused.error or "")
    assert git(repo, "show", "fix/7:fix.txt") == f"7 {first.id}"  # untouched

    cleaned = await final_result(await start(client, task_queue, repo, runbooks, "fix", {"bug": {"id": 8}, "cleanup": "yes"}))
    assert cleaned.instances[0].success, cleaned.instances[0].error
    assert git(repo, "branch", "--list", "fix/8") == ""  # its own branch: the run may push to it, here delete it
    assert cleaned.instances[0].pipeline.published == {"fix/8": "0" * 40}


async def test_a_guard_s_on_timeout_waits_or_runs_a_command_and_a_blocked_phase_is_passed_through(client, task_queue, repo, tmp_path):
    """Items 3 and 8: `on_timeout = "wait"` goes on waiting past the timeout until the guard holds;
    a command on_timeout runs (with the run's values), then the phase fails and its on_fail
    follows; otters' `blocked` (it only waits on its guard, and nothing leads to it) is entered on
    the way to the phase its next names."""
    flag, log = tmp_path / "flag", tmp_path / "removed.log"
    runbooks = bundle(tmp_path, f'''
        [pipeline.p]
        inputs = ["id", "after"]
        [[pipeline.p.phase]]
        name = "init"
        run = "echo init"
        next = "plan"
        [[pipeline.p.phase]]
        name = "blocked"
        pre = ["blocker_merged"]
        next = "plan"
        [[pipeline.p.phase]]
        name = "plan"
        pre = ["ready"]
        run = "echo plan"
        [[pipeline.p.phase]]
        name = "check"
        pre = ["never"]
        run = "echo never"
        on_fail = "report"
        [[pipeline.p.phase]]
        name = "report"
        run = "cat {log}"

        [guard.blocker_merged]
        condition = "test -z '{{after}}' || test -e {{after}}"
        [guard.ready]
        condition = "test -e {flag}"
        timeout = "1s"
        on_timeout = "wait"
        [guard.never]
        condition = "false"
        timeout = "1s"
        on_timeout = "echo removed {{id}} >> {log}"
    ''', "p")
    params = {"pipeline": "ops.pipeline.p", "runbooks": runbooks, "inputs": {"id": "m2", "after": str(repo / "README.md")}, "guard_poll": 0.2}
    run_input = RunInput(prompt="ops.p", repo=str(repo), base_branch="main", defaults=TaskDefaults(), params=params)
    handle = await client.start_workflow("runbook", run_input, id=f"run_test_{uuid.uuid4().hex[:8]}", task_queue=task_queue, result_type=RunResult)
    for _ in range(300):
        progress = await handle.query("progress", result_type=RunProgress)
        if "waiting for guard ready (past its timeout: on_timeout = wait)" in (progress.phase or ""):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"never waited past the timeout: {progress.phase}")
    flag.write_text("")
    (pipeline,) = (await final_result(handle)).instances
    assert [(p.phase, p.ok) for p in pipeline.pipeline.phases] == [("init", True), ("blocked", True), ("plan", True), ("check", False), ("report", True)]
    check = pipeline.pipeline.phases[3]
    assert check.note.startswith("pre guard never does not hold: $ false exited 1 (waited 1s); on_timeout $ echo removed m2 >> ")
    assert check.note.endswith(" ran") and pipeline.pipeline.outputs["report"] == "removed m2"


async def test_a_queue_item_s_fields_are_its_pipeline_s_and_task_s_variables(client, task_queue, repo, tmp_path):
    """Item 2: a handler pipeline of two inputs takes them from the item's fields by name and reads
    its other fields ({id}); the dead-letter hook reads them too ({id}, {branch})."""
    git(repo, "branch", "feature/a")
    (tmp_path / "merges.json").write_text(json.dumps([
        {"id": "m1", "branch": "feature/a", "pipeline": "", "priority": 2},
        {"id": "m2", "branch": "feature/gone", "pipeline": "build-x", "priority": 1},
    ]))
    log, dead = tmp_path / "done.log", tmp_path / "dead.log"
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent(f'''
        [worker.w]
        queue = "merges"
        handler = "pipeline.merge"
        idle_action = "wait:1s"
        [queue.merges]
        source = "cat {tmp_path / 'merges.json'}"
        order = "priority DESC"
        [queue.merges.dead]
        on_add = "echo {{id}} {{branch}} {{merge.pipeline}} >> {dead}"
        [pipeline.merge]
        inputs = ["branch", "pipeline"]
        [[pipeline.merge.phase]]
        name = "validate"
        run = "git ls-remote --heads origin {{branch}} | grep -q {{branch}}"
        [[pipeline.merge.phase]]
        name = "complete"
        run = "echo {{id}} {{branch}} '{{pipeline}}' {{item.priority}} {{orchard.pipeline}} >> {log}"
    '''))
    handle = await start_worker(client, task_queue, repo, folder)
    for _ in range(300):
        rows = (await handle.query("progress", result_type=RunProgress)).trail
        if sorted(row.status for row in rows) == ["dead", "done"] and dead.exists():
            break
        await asyncio.sleep(0.1)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    (worker,) = (await handle.result()).instances
    assert {item.id: item.status for item in worker.queue.items} == {"m1": "done", "m2": "dead"}
    assert log.read_text() == "m1 feature/a  2 merge\n"
    assert dead.read_text() == "m2 feature/gone build-x\n"


async def test_otters_loop_names_the_item_after_its_queue_in_its_task(client, task_queue, repo, tmp_path):
    """Item 2: otters' loop runbook writes {issue.id} for the items of its queue `issues`."""
    (tmp_path / "issues.json").write_text(json.dumps([{"id": "i1", "title": "Add a greeting", "labels": []}]))
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent(f'''
        [worker.w]
        queue = "issues"
        handler = "task.resolve_issue"
        idle_action = "wait:1s"
        [queue.issues]
        source = "cat {tmp_path / 'issues.json'}"
        filter = "'{{config.labels}}' == '' || has_any_label({{config.labels}})"
        [config]
        labels = []
        [task.resolve_issue]
        prompt = "Write `issues/{{issue.id}}.md`: {{title}} ({{id}})"
    '''))
    handle = await start_worker(client, task_queue, repo, folder)
    for _ in range(300):
        if [row.status for row in (await handle.query("progress", result_type=RunProgress)).trail] == ["done"]:
            break
        await asyncio.sleep(0.1)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    (worker,) = (await handle.result()).instances
    assert [(item.id, item.status) for item in worker.queue.items] == [("i1", "done")]
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchard/").split()
    written = [b for b in branches if git(repo, "ls-tree", "--name-only", b, "issues/i1.md")]
    assert len(written) == 1  # the demo agent wrote the file its prompt named: the prompt read {issue.id}
    assert "Add a greeting (i1)" in git(repo, "show", f"{written[0]}:issues/i1.md")
