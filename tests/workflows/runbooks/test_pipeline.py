"""Pipeline runs on the real worker: real git, real commands, in the pipeline's own workspace."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from client.runbooks.registry import RunbookRegistry
from tests.conftest import DEMO_AGENT, final_result, git, run_strategy
from tests.workflows.sdk.test_questions import answer, open_questions
from workflows.sdk.models import RunInput, RunResult, TaskDefaults
from workflows.sdk.visibility import run_search_attributes

pytestmark = pytest.mark.slow  # real git and commands on the real worker


def bundle(tmp_path: Path, text: str, *pipelines: str) -> dict:
    """What a run of these pipelines of the runbook `ops` (written from `text`) carries."""
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "ops.toml").write_text(textwrap.dedent(text))
    registry = RunbookRegistry.load_directory(folder)
    return registry.bundle(*(f"ops.pipeline.{p}" for p in pipelines)).model_dump(mode="json")


async def test_phases_run_in_order_in_one_workspace_and_loop_back_until_the_tests_pass(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.fix]
        inputs = ["name"]
        publish = ["release"]

        [[pipeline.fix.phase]]
        name = "write"
        run = "echo 'attempt' >> notes.txt && echo wrote {name}"

        [[pipeline.fix.phase]]
        name = "verify"
        run = "test $(wc -l < notes.txt) -ge 2"
        on_fail = "write"

        [[pipeline.fix.phase]]
        name = "merge"
        strategy = "merge"

        [[pipeline.fix.phase]]
        name = "report"
        run = "echo 'merged after {outputs.write}'"

        [strategy.merge]
        checkpoint = "git rev-parse HEAD"
        [[strategy.merge.attempt]]
        name = "break"
        run = "echo broken > notes.txt && git commit -qam broken && false"
        rollback = "git reset --hard {checkpoint}"
        [[strategy.merge.attempt]]
        name = "publish"
        run = "git push -q origin HEAD:release"
    ''', "fix")
    git(repo, "branch", "release")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.fix",
                                params={"pipeline": "ops.pipeline.fix", "runbooks": runbooks, "inputs": {"name": "bug-7"}})
    (pipeline,) = result.instances
    assert pipeline.success, pipeline.error
    phases = [(p.phase, p.ok) for p in pipeline.pipeline.phases]
    assert phases == [("write", True), ("verify", False), ("write", True), ("verify", True), ("merge", True), ("report", True)]
    assert pipeline.pipeline.outputs["report"] == "merged after wrote bug-7"
    branch = pipeline.branch_name
    assert branch == f"orchard/runbook/fix/{result.run_id}"
    assert git(repo, "show", f"{branch}:notes.txt") == "attempt\nattempt"  # the rollback undid the broken attempt's commit
    assert git(repo, "rev-parse", "release") == git(repo, "rev-parse", branch)  # published, as the pipeline declares
    assert pipeline.pipeline.published == {"release": git(repo, "rev-parse", branch)}
    assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # the user's checkout untouched


async def test_a_pipeline_says_what_it_published_and_every_push_refused_with_its_reason(client, task_queue, repo, tmp_path):
    """main is checked out in the user's checkout: the chain's pushes to it are refused, its last
    attempt exits 0 without pushing, and the run says it published nothing and why each push was
    refused; its event's push is refused too. With main published elsewhere the end says old → new."""
    from rich.console import Console

    from client.render import print_outcome
    from client.snapshots import Outcome

    runbooks = bundle(tmp_path, '''
        [pipeline.ship]
        publish = ["main"]

        [[pipeline.ship.phase]]
        name = "work"
        run = "echo change > change.txt"

        [[pipeline.ship.phase]]
        name = "merge"
        strategy = "merge"

        [pipeline.ship.events]
        on_complete = "git push -q origin HEAD:main"

        [strategy.merge]
        [[strategy.merge.attempt]]
        name = "fast-forward"
        run = "git push -q origin HEAD:main"
        [[strategy.merge.attempt]]
        name = "claims-success"
        run = "true"
    ''', "ship")
    main = git(repo, "rev-parse", "main")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.ship", params={"pipeline": "ops.pipeline.ship", "runbooks": runbooks})
    (pipeline,) = result.instances
    assert git(repo, "rev-parse", "main") == main
    assert pipeline.selection.reason == "every phase done; published nothing (it may publish main)"
    refused = pipeline.pipeline.refused
    assert len(refused) == 2 and all("pushed main, which is checked out in" in line for line in refused), refused
    assert refused[0].startswith("attempt fast-forward") and refused[1].startswith("event on_complete")
    merge = next(p for p in pipeline.pipeline.phases if p.phase == "merge")
    assert merge.ok and merge.attempts[0].startswith("fast-forward: attempt fast-forward pushed main, which is checked out")
    console = Console(width=200, record=True)
    print_outcome(console, Outcome(run_id=result.run_id, status=result.status, result=result), None)
    shown = console.export_text()
    assert "published nothing (it may publish main)" in shown and shown.count("refused: ") == 2 and "fast-forward: attempt fast-forward pushed main" in shown

    git(repo, "checkout", "-q", "-b", "elsewhere")  # main no longer under a working tree: the fast-forward publishes
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.ship", params={"pipeline": "ops.pipeline.ship", "runbooks": runbooks})
    (pipeline,) = result.instances
    now = git(repo, "rev-parse", "main")
    assert now != main and pipeline.pipeline.refused == []
    assert pipeline.selection.reason == f"every phase done; published main {main[:12]} → {now[:12]}"


async def test_an_agent_s_push_the_pipeline_may_not_make_fails_its_phase_and_is_shown_with_its_reason(client, task_queue, repo, tmp_path):
    """Refused pushes are said whichever step made them: here an agent's, to main checked out in the user's checkout."""
    runbooks = bundle(tmp_path, '''
        [pipeline.ship]
        publish = ["main"]

        [[pipeline.ship.phase]]
        name = "work"
        run = { agent = "pusher" }

        [agent.pusher]
        prompt = "change it and push"
        command = "echo change > change.txt && git add -A && git commit -qm change && git push -q origin HEAD:main"
    ''', "ship")
    main = git(repo, "rev-parse", "main")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.ship", params={"pipeline": "ops.pipeline.ship", "runbooks": runbooks})
    (pipeline,) = result.instances
    assert git(repo, "rev-parse", "main") == main and not pipeline.success
    (refused,) = pipeline.pipeline.refused
    assert "pushed main, which is checked out in" in refused, refused
    (work,) = pipeline.pipeline.phases
    assert not work.ok and work.note.startswith("agent pusher: ") and "pushed main, which is checked out in" in work.note, work


def hostile(where: Path) -> str:
    """A title as anyone may write one in an issue tracker: each piece would create `where`/pwned if it ran."""
    return f"$(touch {where}/pwned)`touch {where}/pwned`; touch {where}/pwned | x && touch {where}/pwned\nit's \"quoted\""


async def test_an_input_with_shell_syntax_is_data_in_commands_guards_outputs_and_events(client, task_queue, repo, tmp_path):
    """Issue 24, item 5: what an input says never runs, and every command receives it as written."""
    log, title = tmp_path / "events.log", hostile(tmp_path)
    runbooks = bundle(tmp_path, f'''
        [pipeline.p]
        inputs = ["title"]
        [pipeline.p.events]
        on_complete = "printf '%s' {{title}} > {log}"
        [[pipeline.p.phase]]
        name = "write"
        run = "printf '%s' {{title}} > title.txt && printf '%s' \\"{{title}}\\""
        pre = ["named"]
        [[pipeline.p.phase]]
        name = "echo"
        run = "printf '%s' '{{outputs.write}}' > output.txt"
        [guard.named]
        condition = "test -n {{title}}"
    ''', "p")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.p",
                                params={"pipeline": "ops.pipeline.p", "runbooks": runbooks, "inputs": {"title": title}})
    (pipeline,) = result.instances
    assert pipeline.success, pipeline.error
    assert not (tmp_path / "pwned").exists()
    branch = pipeline.branch_name
    assert git(repo, "show", f"{branch}:title.txt") == git(repo, "show", f"{branch}:output.txt") == title
    assert pipeline.pipeline.outputs["write"] == title and log.read_text() == title


async def test_what_a_pipeline_changed_is_counted_in_its_result_and_its_table(client, task_queue, repo, tmp_path):
    import io

    from rich.console import Console

    from client.render import print_outcome
    from client.snapshots import Outcome

    runbooks = bundle(tmp_path, '''
        [[pipeline.three.phase]]
        name = "write"
        run = "printf 'a\\nb\\n' > a.txt && echo c > b.txt && echo d > c.txt && rm README.md"
    ''', "three")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.three", params={"pipeline": "ops.pipeline.three", "runbooks": runbooks})
    (pipeline,) = result.instances
    assert pipeline.success and pipeline.has_changes, pipeline.error
    assert (pipeline.files_changed, pipeline.insertions, pipeline.deletions) == (4, 4, 1)  # three files written, one removed
    out = io.StringIO()
    print_outcome(Console(file=out, width=200, markup=False), Outcome(run_id=result.run_id, status=result.status, result=result), None)
    assert "+4/-1" in out.getvalue() and "+0/-0" not in out.getvalue()



async def start_worker(client, task_queue, repo, folder: Path, **params: object):  # type: ignore[no-untyped-def]
    """The queue worker `ops.worker.w` of the runbooks in `folder`, started as `orchard runbook worker` starts it."""
    runbooks = RunbookRegistry.load_directory(folder).bundle("ops.worker.w").model_dump(mode="json")
    run_input = RunInput(prompt="worker", repo=str(repo), base_branch="main", defaults=TaskDefaults(agent_command=DEMO_AGENT),
                         params={"worker": "ops.worker.w", "runbooks": runbooks, **params})
    return await client.start_workflow("runbook-worker", run_input, id=f"worker_test_{uuid.uuid4().hex[:8]}", task_queue=task_queue, result_type=RunResult,
                                       search_attributes=run_search_attributes("runbook-worker", str(repo)))


async def start(client, task_queue, repo, runbooks, pipeline, inputs=None):  # type: ignore[no-untyped-def]
    """A pipeline run started as `orchard runbook run` starts it (with Orchard's search attributes)."""
    run_input = RunInput(prompt=f"ops.{pipeline}", repo=str(repo), base_branch="main", defaults=TaskDefaults(agent_command=DEMO_AGENT),
                         params={"pipeline": f"ops.pipeline.{pipeline}", "runbooks": runbooks, "inputs": inputs or {}})
    return await client.start_workflow("runbook", run_input, id=f"run_test_{uuid.uuid4().hex[:8]}", task_queue=task_queue, result_type=RunResult,
                                       search_attributes=run_search_attributes("runbook", str(repo)))


async def test_an_agent_phase_commits_in_the_workspace_and_a_person_answers_an_escalation(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.build]
        inputs = ["name"]

        [[pipeline.build.phase]]
        name = "plan"
        run = { agent = "planner" }
        post = ["plan_exists"]

        [[pipeline.build.phase]]
        name = "merge"
        run = { strategy = "merge" }
        on_fail = "escalate"

        [[pipeline.build.phase]]
        name = "fixup"
        run = "echo fixed > fixed.txt"

        [agent.planner]
        prompt = "Write the plan to `plans/{name}.md`"

        [guard.plan_exists]
        condition = "test -s plans/{name}.md"

        [strategy.merge]
        on_exhaust = "escalate"
        [[strategy.merge.attempt]]
        name = "ff"
        run = "echo 'not a fast-forward' >&2; exit 3"
        [[strategy.merge.attempt]]
        name = "rebase"
        run = "echo 'conflict in app.py' >&2; exit 1"
    ''', "build")
    handle = await start(client, task_queue, repo, runbooks, "build", {"name": "auth"})
    (question,) = (await open_questions(handle)).questions
    assert question.text.startswith("Runbook ops, pipeline build, phase merge failed: strategy merge: every attempt failed (ff, rebase)")
    assert "ff: exited 3: not a fast-forward" in question.text and "rebase: exited 1: conflict in app.py" in question.text
    assert question.choices == ["retry", "skip", "fail", "goto:plan", "goto:merge", "goto:fixup"]
    await answer(handle, "goto:fixup")
    result = await handle.result()
    (pipeline,) = result.instances
    assert pipeline.success and [p.phase for p in pipeline.pipeline.phases] == ["plan", "merge", "fixup"]
    assert "alice chose goto:fixup" in pipeline.pipeline.phases[1].note
    branch = pipeline.branch_name
    assert git(repo, "show", f"{branch}:fixed.txt") == "fixed" and git(repo, "show", f"{branch}:plans/auth.md")  # the agent's commit, then the command's


async def test_a_push_to_a_branch_the_pipeline_does_not_publish_or_that_is_checked_out_is_refused(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.sneak]
        inputs = []
        publish = ["main"]
        [[pipeline.sneak.phase]]
        name = "push"
        run = "git commit -q --allow-empty -m x && git push -q origin HEAD:{target}"
        [pipeline.sneak.defaults]
        target = "other"
    ''', "sneak")
    before = git(repo, "for-each-ref")
    handle = await start(client, task_queue, repo, runbooks, "sneak")
    (pipeline,) = (await final_result(handle)).instances
    assert not pipeline.success and (await handle.describe()).status == WorkflowExecutionStatus.FAILED  # as the Temporal UI shows it
    assert "phase push pushed other, which the pipeline does not publish (publish = [main]); nothing it pushed was applied" in pipeline.error
    runbooks["runbooks"]["ops"]["pipelines"]["sneak"]["defaults"]["target"]["source"] = "main"
    (pipeline,) = (await final_result(await start(client, task_queue, repo, runbooks, "sneak"))).instances
    assert not pipeline.success and "pushed main, which is checked out in" in pipeline.error
    assert "never moves a branch under your working tree" in pipeline.error
    after = git(repo, "for-each-ref")
    assert [line for line in after.splitlines() if "orchard/" not in line] == [line for line in before.splitlines() if "orchard/" not in line]


async def test_a_phase_runs_another_pipeline_and_an_orchard_strategy_and_merges_their_work(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.outer]
        inputs = ["name"]
        [[pipeline.outer.phase]]
        name = "docs"
        run = { pipeline = "inner", inputs = { topic = "{name}-docs" } }
        [[pipeline.outer.phase]]
        name = "candidates"
        run = { orchard = "best-of-n", prompt = "Write `best/{name}.md`", n = 2 }
        [[pipeline.outer.phase]]
        name = "check"
        run = "test -f docs/auth-docs.txt && test -f best/auth.md && echo both"

        [pipeline.inner]
        inputs = ["topic"]
        [[pipeline.inner.phase]]
        name = "write"
        run = "mkdir -p docs && echo {topic} > docs/{topic}.txt"
    ''', "outer")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.outer",
                                params={"pipeline": "ops.pipeline.outer", "runbooks": runbooks, "inputs": {"name": "auth"}})
    (pipeline,) = result.instances
    assert pipeline.success, pipeline.error
    assert pipeline.pipeline.outputs["check"] == "both"
    assert sorted(c.strategy for c in result.children) == ["best-of-n", "runbook"]
    assert git(repo, "show", f"{pipeline.branch_name}:docs/auth-docs.txt") == "auth-docs"


@pytest.mark.parametrize("timeout", ['timeout = "2m"', "# no timeout: it waits for its event, as otters' guards do"])
async def test_a_guard_waiting_on_another_pipeline_wakes_when_it_completes_not_by_polling(client, task_queue, repo, tmp_path, timeout):
    flag = tmp_path / "flag"
    runbooks = bundle(tmp_path, f'''
        [pipeline.waiter]
        inputs = []
        [[pipeline.waiter.phase]]
        name = "after"
        pre = ["made"]
        run = "echo went on"

        [pipeline.maker]
        inputs = []
        [[pipeline.maker.phase]]
        name = "make"
        run = "sleep 1 && touch {flag}"

        [guard.made]
        condition = "test -f {flag}"
        {timeout}
        wake_on = ["pipeline:maker:complete"]
    ''', "waiter", "maker")
    waiting = await start(client, task_queue, repo, runbooks, "waiter")
    await asyncio.sleep(1.5)  # it checked once, and waits
    await (await start(client, task_queue, repo, runbooks, "maker")).result()
    made = time.monotonic()
    (pipeline,) = (await waiting.result()).instances
    assert pipeline.success and pipeline.pipeline.outputs["after"] == "went on"
    assert time.monotonic() - made < 5  # woken by the event, not by the 10 s poll (a guard with wake_on does not poll at all)


async def test_six_concurrent_runs_share_a_semaphore_of_two_and_a_lock_that_serialises_their_merges(client, task_queue, repo, tmp_path):
    log = tmp_path / "spans.log"
    runbooks = bundle(tmp_path, f'''
        [pipeline.work]
        inputs = []
        [[pipeline.work.phase]]
        name = "build"
        semaphore = "agents"
        run = "echo build start $(date +%s.%N) >> {log} && sleep 0.6 && echo build end $(date +%s.%N) >> {log}"
        [[pipeline.work.phase]]
        name = "merge"
        lock = "main_branch"
        run = "echo merge start $(date +%s.%N) >> {log} && sleep 0.3 && echo merge end $(date +%s.%N) >> {log}"

        [semaphore.agents]
        max = 2
        [lock.main_branch]
        heartbeat = "5s"
    ''', "work")
    runs = [await start(client, task_queue, repo, runbooks, "work") for _ in range(6)]
    results = await asyncio.gather(*(r.result() for r in runs))
    assert all(r.instances[0].success for r in results)
    events = sorted((float(t), kind, what) for kind, what, t in (line.split() for line in log.read_text().splitlines()))

    def most_at_once(kind: str) -> int:
        now = most = 0
        for _, k, what in events:
            if k == kind:
                now += 1 if what == "start" else -1
                most = max(most, now)
        return most

    assert most_at_once("build") == 2  # the semaphore's two slots, both used
    assert most_at_once("merge") == 1  # the lock: one merge at a time across the six runs


async def test_a_lock_taken_back_mid_phase_rolls_the_phase_back_and_escalates_per_on_stale(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.slow]
        inputs = []
        [[pipeline.slow.phase]]
        name = "merge"
        lock = "main_branch"
        strategy = "merge"
        [[pipeline.slow.phase]]
        name = "after"
        run = "test ! -f merged.txt && echo clean"

        [strategy.merge]
        [[strategy.merge.attempt]]
        name = "commit"
        run = "echo merged > merged.txt && git add merged.txt && git commit -qm merged && false"
        [[strategy.merge.attempt]]
        name = "wait"
        run = "sleep 30"

        [lock.main_branch]
        timeout = "1s"
        on_stale = ["rollback", "escalate"]
    ''', "slow")
    handle = await start(client, task_queue, repo, runbooks, "slow")
    (question,) = (await open_questions(handle)).questions
    assert "phase merge failed: ops.lock.main_branch was taken back while the phase ran (held for 1." in question.text
    assert "; the phase was stopped, and what its unfinished step did discarded; its work was rolled back to" in question.text  # not 30 s later
    await answer(handle, "skip")
    (pipeline,) = (await handle.result()).instances
    assert pipeline.success and pipeline.pipeline.outputs["after"] == "clean"  # the merge's commit is gone


async def test_a_canceled_run_releases_its_lock_and_shows_where_it_was(client, task_queue, repo, tmp_path):
    from workflows.coordination.states import SemaphoreState
    from workflows.sdk.entities import semaphore_id
    from workflows.sdk.models import RunProgress

    runbooks = bundle(tmp_path, '''
        [pipeline.hold]
        inputs = []
        [[pipeline.hold.phase]]
        name = "prepare"
        run = "true"
        [[pipeline.hold.phase]]
        name = "merge"
        lock = "main_branch"
        run = "sleep 60"
        [[pipeline.hold.phase]]
        name = "done"
        run = "true"
        [lock.main_branch]
        heartbeat = "5s"
    ''', "hold")
    handle = await start(client, task_queue, repo, runbooks, "hold")
    lock = client.get_workflow_handle(semaphore_id(str(repo), "ops.lock.main_branch"))
    for _ in range(200):
        progress = await handle.query("progress", result_type=RunProgress)
        if progress.phase == "phase merge · prepare✓ ▶merge done":  # where the run is, in its graph
            break
        await asyncio.sleep(0.05)
    assert progress.phase == "phase merge · prepare✓ ▶merge done"
    assert progress.graph == [  # what the TUI and `orchard show` draw
        "✓ prepare  shell     → merge",
        "▶ merge    shell     → done  lock main_branch",
        "· done     shell     → (end)",
    ]
    await asyncio.sleep(0.5)
    assert [h.holder for h in (await lock.query("state", result_type=SemaphoreState)).holders] == [handle.id]
    await handle.cancel()
    for _ in range(200):
        if not (await lock.query("state", result_type=SemaphoreState)).holders:
            break
        await asyncio.sleep(0.05)
    assert (await lock.query("state", result_type=SemaphoreState)).holders == []  # released on cancel, not left for the heartbeat to time out
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED  # as the Temporal UI shows it


async def test_a_queue_worker_continues_as_new_and_handles_each_item_once_across_its_runs(client, task_queue, repo, tmp_path):
    from workflows.sdk.models import RunProgress, SteerRequest

    log = tmp_path / "handled.log"
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent(f'''
        [worker.w]
        queue = "q"
        handler = "pipeline.note"
        concurrency = 2
        idle_action = "wait:1s"
        [queue.q]
        source = "printf 'id=1\\\\nid=2\\\\nid=3\\\\nid=4\\\\nid=5\\\\n'"
        format = "kv"
        [pipeline.note]
        inputs = ["item"]
        [[pipeline.note.phase]]
        name = "note"
        run = "echo {{item.id}} >> {log}"
    '''))
    handle = await start_worker(client, task_queue, repo, folder, items_per_run=2)
    for _ in range(300):
        progress = await handle.query("progress", result_type=RunProgress)
        if sum(row.status == "done" for row in progress.trail) == 5:
            break
        await asyncio.sleep(0.1)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    result = await handle.result()
    assert result.runs >= 2  # two items a history: the worker continued as new (once or twice), carrying every item's record
    assert sorted(r.id for r in result.instances[0].queue.items) == ["1", "2", "3", "4", "5"]
    assert sorted(log.read_text().split()) == ["1", "2", "3", "4", "5"]  # each item handled once across the chain


async def test_a_queue_item_s_title_is_data_through_the_worker_its_filter_functions_and_dead_letters(client, task_queue, repo, tmp_path):
    """Issue 24, item 5: a title from an issue tracker is data in every command the worker runs."""
    from workflows.sdk.models import RunProgress, SteerRequest

    title = hostile(tmp_path)
    (tmp_path / "items.json").write_text(json.dumps([{"id": 1, "title": title}, {"id": 2, "title": "fails " + title}]))
    log, dead = tmp_path / "handled.log", tmp_path / "dead.log"
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent(f'''
        [worker.w]
        queue = "q"
        handler = "pipeline.note"
        idle_action = "wait:1s"
        [queue.q]
        source = "cat {tmp_path / 'items.json'}"
        filter = "titled()"
        [queue.q.dead]
        on_add = "printf '%s\\\\n' {{reason}} >> {dead}"
        [functions]
        titled = "test -n {{title}}"
        [pipeline.note]
        inputs = ["item"]
        [[pipeline.note.phase]]
        name = "note"
        run = "printf '%s\\\\n' {{item.title}} >> {log} && test {{item.id}} = 1"
    '''))
    handle = await start_worker(client, task_queue, repo, folder)
    for _ in range(300):
        progress = await handle.query("progress", result_type=RunProgress)
        if sorted(row.status for row in progress.trail) == ["dead", "done"]:
            break
        await asyncio.sleep(0.1)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    await handle.result()
    assert not (tmp_path / "pwned").exists()
    assert log.read_text() == f"{title}\nfails {title}\n"
    assert "exited 1" in dead.read_text()


async def test_an_item_its_task_s_command_cannot_quote_fails_alone_and_the_worker_goes_on(client, task_queue, repo, tmp_path):
    """A value no quoting holds (here a non-number in $((...))) fails its item, dead-lettered; it does not stall the worker."""
    from workflows.sdk.models import RunProgress, SteerRequest

    (tmp_path / "items.json").write_text(json.dumps([{"id": 1, "n": f"a[$(touch {tmp_path}/pwned)]"}]))
    dead = tmp_path / "dead.log"
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent(f'''
        [worker.w]
        queue = "q"
        handler = "task.t"
        idle_action = "wait:1s"
        [queue.q]
        source = "cat {tmp_path / 'items.json'}"
        [queue.q.dead]
        on_add = "printf '%s' {{item.id}} > {dead}"
        [task.t]
        prompt = "count {{item.n}}"
        run = "echo $(( {{item.n}} + 1 ))"
    '''))
    handle = await start_worker(client, task_queue, repo, folder)
    for _ in range(300):
        if [row.status for row in (await handle.query("progress", result_type=RunProgress)).trail] == ["dead"] and dead.exists():
            break
        await asyncio.sleep(0.1)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    (worker,) = (await handle.result()).instances
    (item,) = worker.queue.items
    assert item.status == "dead" and "stands in $((...)), where only a whole number is safe" in item.error
    assert dead.read_text() == "1" and not (tmp_path / "pwned").exists()
