"""`run_iteration` with real git and real processes: the loop's workspace kept across iterations,
the snapshot, an interrupted iteration discarded, a rewritten history refused, a lost workspace
checked out again, a branch moved by someone else, the levels in order."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.git.workspace import git_dir_of
from activities.loops.iteration import run_iteration
from activities.workspaces.kept import MARKER, loop_workspace
from tests.conftest import git
from workflows.loops.models import IterationInput, IterationOutcome
from workflows.sdk.models import TaskSpec

BRANCH = "orchard/loop/run_t/kloop"
COMMIT = "echo $ORCHARD_KEY >> log.txt && git add log.txt && git commit -qm \"$ORCHARD_KEY\""


async def iterate(repo, n: int, start: str, agent: str = COMMIT, **fields) -> IterationOutcome:
    task = TaskSpec(prompt="work", base_branch="main", agent_command=agent, runner="local")
    inp = IterationInput(repo=str(repo), run_id="run_t", loop_key="loop", iteration=n, attempt_key=f"{n}.0", branch=BRANCH,
                         start_commit=start, branch_exists=n > 1, task=task, **fields)
    return await ActivityEnvironment().run(run_iteration, inp)


async def test_later_iterations_keep_the_workspace_and_the_branch_fast_forwards(repo, orchard_home):
    base = git(repo, "rev-parse", "main")
    first = await iterate(repo, 1, base)
    second = await iterate(repo, 2, first.snapshot.commit)
    assert (first.workspace, second.workspace) == ("checked out", "kept")
    assert git(repo, "rev-parse", BRANCH) == second.snapshot.commit
    assert git(repo, "rev-list", "--reverse", f"main..{BRANCH}").split() == [first.snapshot.commit, second.snapshot.commit]
    assert second.snapshot.changed and second.snapshot.files_changed == 1 and second.snapshot.previous_commit == first.snapshot.commit
    assert not any(p for p in (git_dir_of(loop_workspace("run_t", "loop")) / "objects").glob("[0-9a-f][0-9a-f]/*"))  # handed to the repository
    assert git(repo, "fsck", "--connectivity-only", "--no-dangling") == ""


async def test_uncommitted_work_is_the_snapshot_and_the_state_files_stay_out_of_it(repo, orchard_home):
    base = git(repo, "rev-parse", "main")
    out = await iterate(repo, 1, base, agent="cat .loop/loop-state.json > seen.txt", files={".loop/loop-state.json": '{"iteration": 1}'},
                        levels={"L0": ["test -f .loop/loop-state.json"]})
    assert git(repo, "show", f"{BRANCH}:seen.txt") == '{"iteration": 1}'  # the agent read its state; its leftovers became the commit
    assert git(repo, "log", "-1", "--format=%s", BRANCH) == "orchard loop: iteration 1 (work the agent left uncommitted)"
    assert ".loop" not in git(repo, "ls-tree", "-r", "--name-only", BRANCH) and out.verification.passed


async def test_an_interrupted_iteration_starts_again_from_the_last_finished_commit(repo, orchard_home):
    first = await iterate(repo, 1, git(repo, "rev-parse", "main"))
    workspace = loop_workspace("run_t", "loop")
    (git_dir_of(workspace) / MARKER).unlink()  # what a try of iteration 2 does first, then it died half way:
    git(workspace, "commit", "-q", "--allow-empty", "-m", "half done")
    (workspace / "junk.txt").write_text("half written")
    second = await iterate(repo, 2, first.snapshot.commit)
    assert second.workspace == "reset"
    assert git(repo, "log", "--format=%s", f"main..{BRANCH}").split("\n") == ["loop/2", "loop/1"] and not (workspace / "junk.txt").exists()


async def test_a_rewritten_history_is_refused_and_the_branch_stays(repo, orchard_home):
    first = await iterate(repo, 1, git(repo, "rev-parse", "main"))
    second = await iterate(repo, 2, first.snapshot.commit, agent="git reset -q --hard HEAD~1 && git commit -q --allow-empty -m rewrite")
    assert not second.agent.success and "rewrote the loop's history" in second.agent.error
    assert second.snapshot.commit == first.snapshot.commit == git(repo, "rev-parse", BRANCH)


async def test_a_lost_workspace_is_checked_out_again_from_the_loops_commit(repo, orchard_home):
    from activities.git.workspace import remove_workspace

    first = await iterate(repo, 1, git(repo, "rev-parse", "main"))
    await remove_workspace(loop_workspace("run_t", "loop"))  # its host is gone: the next try runs elsewhere
    second = await iterate(repo, 2, first.snapshot.commit)
    assert second.workspace == "checked out" and git(repo, "rev-parse", f"{BRANCH}~1") == first.snapshot.commit


async def test_a_branch_moved_outside_the_loop_ends_it(repo, orchard_home):
    first = await iterate(repo, 1, git(repo, "rev-parse", "main"))
    git(repo, "update-ref", f"refs/heads/{BRANCH}", git(repo, "rev-parse", "main"))
    with pytest.raises(ApplicationError) as moved:
        await iterate(repo, 2, first.snapshot.commit)
    assert moved.value.type == "LoopBranchMoved" and moved.value.non_retryable and "was moved outside the loop" in moved.value.message


async def test_levels_run_in_order_and_a_failing_one_skips_those_above_and_ci(repo, orchard_home):
    out = await iterate(repo, 1, git(repo, "rev-parse", "main"), levels={"L0": ["true"], "L1": ["echo 2 tests failed; exit 3"], "L2": ["true"]}, ci="true")
    report = out.verification
    assert [(lv.level, lv.passed, lv.skipped) for lv in report.levels] == [("L0", True, False), ("L1", False, False), ("L2", False, True)]
    assert report.highest_passing == "L0" and not report.passed and out.ci is None
    (failing,) = report.failing()
    assert failing[0] == "L1" and failing[1].exit_code == 3 and "2 tests failed" in failing[1].output_tail


async def test_a_workspace_whose_objects_were_packed_is_fetched_from(repo, orchard_home):
    out = await iterate(repo, 1, git(repo, "rev-parse", "main"), agent=f"{COMMIT} && git repack -q -d")
    assert git(repo, "rev-parse", BRANCH) == out.snapshot.commit and git(repo, "fsck", "--connectivity-only", "--no-dangling") == ""


def test_the_quota_workflow_of_a_loop_s_iteration_starts_on_the_runs_queue_not_its_host_s():
    from activities.workspaces.host import host_queue, run_queue

    assert run_queue(host_queue("orchard")) == "orchard"  # a host's queue serves activities only: a workflow started there never runs
    assert run_queue("orchard") == "orchard" and run_queue("team@example") == "team@example"


async def test_an_iteration_on_paused_credentials_starts_no_agent_and_leaves_the_workspace(repo, orchard_home, client, monkeypatch):
    """Another run paused these credentials (their quota workflow says until when): the iteration
    answers with that pause at once; its agent never runs and nothing in its workspace changes."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from temporalio.worker import Worker

    from activities.agents import get_plugin
    from activities.quota import credential_fingerprint
    from orchard_common.sandbox import sandbox_runner
    from workflows.coordination.quota import QuotaWorkflow
    from workflows.sdk.quota import QuotaState, quota_id

    monkeypatch.setenv("ORCHARD_TEST_ACCOUNT", uuid.uuid4().hex)  # credentials of this test alone
    first = await iterate(repo, 1, git(repo, "rev-parse", "main"))
    task = TaskSpec(prompt="work", base_branch="main", agent_command=COMMIT, runner="local", worker_env=["ORCHARD_TEST_ACCOUNT"])
    fingerprint = credential_fingerprint(get_plugin(task.plugin), task)
    until = datetime.now(UTC) + timedelta(seconds=60)
    queue = f"quota-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[QuotaWorkflow], workflow_runner=sandbox_runner()):
        quota = await client.start_workflow(QuotaWorkflow.run, QuotaState(fingerprint=fingerprint, until=until, reason="429 from another run"),
                                            id=quota_id(fingerprint), task_queue=queue)
        try:
            inp = IterationInput(repo=str(repo), run_id="run_t", loop_key="loop", iteration=2, attempt_key="2.0", branch=BRANCH,
                                 start_commit=first.snapshot.commit, branch_exists=True, task=task, resume_session="s-1", quota_pauses=1)
            out = await ActivityEnvironment(client).run(run_iteration, inp)
        finally:
            await quota.terminate()
    assert out.agent.quota is not None and out.agent.quota.until == until and out.agent.quota.pauses == 2
    assert out.agent.error == "429 from another run" and out.agent.session_id == "s-1"  # the session waits to be resumed
    assert out.snapshot.commit == first.snapshot.commit == git(repo, "rev-parse", BRANCH)
    assert (git_dir_of(loop_workspace("run_t", "loop")) / MARKER).is_file()  # not even made ready: the next try keeps it as it is
    assert git(repo, "log", "--format=%s", f"main..{BRANCH}") == "loop/1"
