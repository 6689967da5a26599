"""`run_iteration` and `run_runbook_step` on a remote (a bare repository by its file:// URL), with
real git: each host (an ORCHARD_HOME) works from its own mirror and pushes the loop's branch with a
lease; a host that takes over fetches the branch and goes on; a commit a lost host pushed and never
reported is taken, not done again; a branch moved by someone else stops the loop."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.loops.iteration import run_iteration
from activities.runbooks.steps import run_runbook_step
from activities.workspaces.branch import PushedMeanwhile
from tests.conftest import git
from workflows.loops.models import IterationInput, IterationOutcome
from workflows.runbooks.steps import StepInput
from workflows.sdk.models import TaskSpec

BRANCH = "orchard/loop/run_r/kloop"
COUNT = "echo $ORCHARD_KEY >> log.txt && git add log.txt && git commit -qm \"$ORCHARD_KEY\""


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> tuple[str, Path]:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    return bare.as_uri(), bare


def on_host(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("ORCHARD_HOME", str(home))


async def iterate(url: str, n: int, start: str, agent: str = COUNT, run_id: str = "run_r") -> IterationOutcome:
    task = TaskSpec(prompt="work", base_branch="main", agent_command=agent, runner="local")
    inp = IterationInput(repo=url, run_id=run_id, loop_key="loop", iteration=n, attempt_key=f"{n}.0", branch=BRANCH.replace("run_r", run_id),
                         start_commit=start, branch_exists=n > 1, task=task)
    return await ActivityEnvironment().run(run_iteration, inp)


async def test_a_loop_on_a_remote_pushes_each_iteration_and_another_host_goes_on_from_it(remote, tmp_path, monkeypatch):
    url, bare = remote
    base = git(bare, "rev-parse", "main")
    on_host(monkeypatch, tmp_path / "host-a")
    first = await iterate(url, 1, base)
    assert first.workspace == "checked out" and git(bare, "rev-parse", BRANCH) == first.snapshot.commit
    second = await iterate(url, 2, first.snapshot.commit)
    assert second.workspace == "kept" and git(bare, "rev-parse", BRANCH) == second.snapshot.commit
    on_host(monkeypatch, tmp_path / "host-b")  # host a is lost: b fetches the branch into its own mirror and goes on
    third = await iterate(url, 3, second.snapshot.commit)
    assert third.workspace == "checked out" and third.host != first.host
    assert git(bare, "log", "--format=%s", f"main..{BRANCH}").splitlines() == ["loop/3", "loop/2", "loop/1"]
    assert git(bare, "show", f"{BRANCH}:log.txt").splitlines() == ["loop/1", "loop/2", "loop/3"]
    assert git(bare, "fsck", "--strict", "--no-dangling") == ""
    assert list((tmp_path / "host-b" / "mirrors").glob("*.git"))  # read from b's own mirror, not a's files


async def test_a_commit_a_lost_host_pushed_and_never_reported_is_taken_not_done_again(remote, tmp_path, monkeypatch):
    url, bare = remote
    base = git(bare, "rev-parse", "main")
    on_host(monkeypatch, tmp_path / "host-a")
    first = await iterate(url, 1, base)
    pushed = await iterate(url, 2, first.snapshot.commit)  # host a pushed iteration 2, then died before its run heard of it
    on_host(monkeypatch, tmp_path / "host-b")
    again = await iterate(url, 2, first.snapshot.commit)  # the run tries iteration 2 again, on b
    assert again.snapshot.commit == pushed.snapshot.commit and again.agent.success and "taken as it is" in (again.agent.final_message or "")
    assert git(bare, "show", f"{BRANCH}:log.txt").splitlines() == ["loop/1", "loop/2"]  # done once
    third = await iterate(url, 3, again.snapshot.commit)
    assert git(bare, "log", "--format=%s", f"main..{BRANCH}").splitlines() == ["loop/3", "loop/2", "loop/1"] and third.snapshot.changed


async def test_a_branch_someone_else_moved_on_the_remote_stops_the_loop(remote, tmp_path, monkeypatch, repo):
    url, bare = remote
    on_host(monkeypatch, tmp_path / "host-a")
    first = await iterate(url, 1, git(bare, "rev-parse", "main"))
    git(repo, "commit", "-q", "--allow-empty", "-m", "someone else's")
    git(repo, "push", "-q", "--force", str(bare), f"HEAD:refs/heads/{BRANCH}")
    with pytest.raises(ApplicationError, match="was moved outside the loop") as raised:
        await iterate(url, 2, first.snapshot.commit)
    assert raised.value.type == "LoopBranchMoved" and git(bare, "log", "-1", "--format=%s", BRANCH) == "someone else's"


async def test_a_pipeline_step_on_a_remote_pushes_its_branch_and_publishes_through_its_gateway(remote, tmp_path, monkeypatch):
    url, bare = remote
    on_host(monkeypatch, tmp_path / "host-a")
    base = git(bare, "rev-parse", "main")
    branch = "orchard/runbook/ship/run_p"

    async def step(n: int, command: str, start: str, exists: bool) -> str:
        inp = StepInput(repo=url, run_id="run_p", key="pipeline", step=n, attempt_key=f"{n}.0", kind="run", label=f"phase {n}", command=command,
                        branch=branch, start_commit=start, branch_exists=exists, publish=["shipped"])
        out = await ActivityEnvironment().run(run_runbook_step, inp)
        assert out.exit_code == 0 and out.refused is None, out
        return out.commit

    built = await step(1, "echo built > out.txt", base, False)
    assert git(bare, "show", f"{branch}:out.txt") == "built"
    git(bare, "branch", "shipped", base)  # a branch the pipeline publishes, there before it
    on_host(monkeypatch, tmp_path / "host-b")  # a step on another host: its gateway shows the remote's branches now
    same = await step(2, "git fetch -q origin && test $(git rev-parse origin/shipped) = " + base + " && git push -q origin HEAD:shipped", built, True)
    assert same == built and git(bare, "rev-parse", "shipped") == built  # published by a push with a lease
    refused = StepInput(repo=url, run_id="run_p", key="pipeline", step=3, attempt_key="3.0", kind="run", label="phase 3",
                        command="git push -q origin HEAD:elsewhere", branch=branch, start_commit=built, branch_exists=True, publish=["shipped"])
    out = await ActivityEnvironment().run(run_runbook_step, refused)
    assert "which the pipeline does not publish" in (out.refused or "") and "elsewhere" not in git(bare, "branch", "--list", "elsewhere")


async def test_a_push_a_host_thought_lost_made_while_an_iteration_ran_is_taken_by_its_retry(remote, tmp_path, monkeypatch):
    url, bare = remote
    on_host(monkeypatch, tmp_path / "host-b")
    first = await iterate(url, 1, git(bare, "rev-parse", "main"))
    # While this try runs, the host the run thought lost pushes its own iteration 2 (then this agent commits its own).
    racing = (f"git commit -q --allow-empty -m lost && git push -q {bare} HEAD:refs/heads/{BRANCH} && git reset -q --hard HEAD~1 && "
              "echo mine >> log.txt && git commit -qam mine")
    with pytest.raises(PushedMeanwhile, match="moved on from"):
        await iterate(url, 2, first.snapshot.commit, agent=racing)
    retried = await iterate(url, 2, first.snapshot.commit, agent=racing)  # Temporal's retry of the same iteration
    assert git(bare, "log", "--format=%s", f"main..{BRANCH}").splitlines() == ["lost", "loop/1"]  # nothing pushed is lost or doubled
    assert retried.snapshot.commit == git(bare, "rev-parse", BRANCH)


async def test_a_pipeline_step_run_again_after_its_host_was_lost_replaces_what_that_host_pushed(remote, tmp_path, monkeypatch):
    url, bare = remote
    base = git(bare, "rev-parse", "main")
    branch = "orchard/runbook/fix/run_q"
    inp = StepInput(repo=url, run_id="run_q", key="pipeline", step=1, attempt_key="1.0", kind="run", label="phase fix",
                    command="date +%s%N > stamp.txt", branch=branch, start_commit=base)
    on_host(monkeypatch, tmp_path / "host-a")
    lost = await ActivityEnvironment().run(run_runbook_step, inp)  # pushed, then host a died before the run heard of it
    on_host(monkeypatch, tmp_path / "host-b")
    again = await ActivityEnvironment().run(run_runbook_step, inp.model_copy(update={"attempt_key": "1.1"}))
    assert again.refused is None and again.commit != lost.commit
    assert git(bare, "rev-parse", branch) == again.commit and git(bare, "rev-list", "--count", f"main..{branch}") == "1"
