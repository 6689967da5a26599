"""The instance activity against real git repositories and real agent processes."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.git.branch_import import ImportRefused, import_branch
from activities.git.origin import Origin
from activities.git.workspace import prepare_workspace
from activities.instance import run_instance
from activities.paths import instance_dir, workspaces_dir
from activities.workspaces.removals import settled
from tests.conftest import DEMO_AGENT, git, gone_within, orchard_branches
from workflows.sdk.models import InstanceInput, TaskSpec, instance_branch


def instance(repo: Path, key: str = "gen/1", agent: str = DEMO_AGENT, run_id: str = "run_t1", **task) -> InstanceInput:
    spec = TaskSpec(prompt=task.pop("prompt", "add a greeting"), base_branch="main", agent_command=agent, **task)
    return InstanceInput(repo=str(repo), run_id=run_id, strategy="simple", key=key, branch=instance_branch("simple", run_id, key), task=spec)


async def run(inp: InstanceInput):
    result = await ActivityEnvironment().run(run_instance, inp)
    await settled()  # its workspace is removed after it returns (activities/workspaces/removals.py)
    return result


def user_state(repo: Path) -> tuple[str, str, str, str]:
    return (git(repo, "status", "--porcelain=v1"), git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"), (repo / "wip.txt").read_text())


async def test_agent_commits_land_on_a_new_branch_and_nothing_else_changes(repo, orchard_home):
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "wip.txt").write_text("uncommitted work\n")
    (repo / "README.md").write_text("# edited, staged\n")
    git(repo, "add", "README.md")
    before = user_state(repo)
    main_before = git(repo, "rev-parse", "main")

    result = await run(instance(repo))

    assert result.success and result.has_changes and result.status == "success"
    assert result.branch_name == instance_branch("simple", "run_t1", "gen/1")
    assert user_state(repo) == before
    assert git(repo, "rev-parse", "main") == main_before
    assert orchard_branches(repo) == [result.branch_name]
    assert git(repo, "rev-parse", result.branch_name) == result.commit
    assert git(repo, "rev-parse", f"{result.commit}^") == main_before
    assert (result.files_changed, result.insertions) == (1, 3)
    assert "committed" in (result.final_message or "")
    assert Path(result.final_message_path).read_text().startswith("Wrote demo/")
    assert not workspaces_dir("run_t1").exists()
    assert not (repo / ".git" / "worktrees").exists()


@pytest.mark.parametrize(
    "policy, noop, branch_expected",
    [("never", False, False), ("auto", True, False), ("always", True, True), ("auto", False, True)],
)
async def test_import_policies(repo, orchard_home, policy, noop, branch_expected):
    agent = f"DEMO_AGENT_NOOP=1 {DEMO_AGENT}" if noop else DEMO_AGENT
    result = await run(instance(repo, agent=agent, import_policy=policy))
    assert result.success
    assert result.has_changes is (not noop)
    assert bool(result.branch_name) is branch_expected
    assert (orchard_branches(repo) != []) is branch_expected


async def test_conflict_policies(repo, orchard_home):
    taken = instance_branch("simple", "run_t1", "gen/1")
    git(repo, "branch", taken, "main")
    failed = await run(instance(repo))
    assert not failed.success and failed.error_type == "import" and "already exists" in failed.error
    assert (failed.commit_statistics.commits, failed.files_changed, failed.insertions) == (1, 1, 3)  # counted while the branch was tried
    suffixed = await run(instance(repo, run_id="run_t1", key="gen/1", import_conflict_policy="suffix", prompt="other"))
    assert suffixed.success and suffixed.branch_name == f"{taken}-2"
    overwritten = await run(instance(repo, import_conflict_policy="overwrite", prompt="third"))
    assert overwritten.branch_name == taken and git(repo, "rev-parse", taken) == overwritten.commit


async def test_protected_and_foreign_branches_are_refused_whatever_the_conflict_policy(repo):
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "hotfix/urgent", "main")
    before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    for branch, policy, refused in (
        ("main", "overwrite", "refusing to write the protected branch 'main'"),
        ("refs/heads/master", "suffix", "refusing to write the protected branch 'refs/heads/master'"),
        ("hotfix/urgent", "fail", "refusing to write the protected branch 'hotfix/urgent'"),
        ("feature/x", "overwrite", "refusing to write 'feature/x': Orchard writes only branches under orchard/"),
    ):
        with pytest.raises(ImportRefused, match=re.escape(refused)):
            await import_branch(Origin(str(repo), str(repo)), repo, head, branch, policy)
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == before


async def test_a_retried_instance_returns_the_recorded_result_without_running_the_agent(repo, orchard_home, tmp_path):
    log = tmp_path / "agent.log"  # written by the agent outside its workspace: the local runner, which allows it
    inp = instance(repo, agent=f"DEMO_AGENT_LOG={log} {DEMO_AGENT}", runner="local")
    first = await run(inp)
    second = await run(inp)
    assert log.read_text().splitlines() == ["gen/1"]
    assert second.commit == first.commit and second.branch_name == first.branch_name
    # Killed between importing the branch and recording the result: the branch itself is the record.
    (instance_dir("run_t1", "gen/1") / "result.json").unlink()
    third = await run(inp)
    assert log.read_text().splitlines() == ["gen/1"]
    assert third.commit == first.commit and third.recovered_from_branch


async def test_a_branch_another_task_made_under_the_same_key_is_not_taken_for_this_ones(repo, orchard_home, tmp_path):
    """The record is lost and the key's branch exists, but it holds another task's work (the
    run's input changed, a strategy reused a key): the instance runs its own task and refuses to
    pass the foreign branch off as its result."""
    log = tmp_path / "agent.log"  # written by the agent outside its workspace: the local runner, which allows it
    first = await run(instance(repo, agent=f"DEMO_AGENT_LOG={log} {DEMO_AGENT}", prompt="add a greeting", runner="local"))
    (instance_dir("run_t1", "gen/1") / "result.json").unlink()
    other = await run(instance(repo, agent=f"DEMO_AGENT_LOG={log} {DEMO_AGENT}", prompt="add a farewell", runner="local"))
    assert log.read_text().splitlines() == ["gen/1", "gen/1"]  # the agent ran for the other task
    assert not other.recovered_from_branch
    assert not other.success and other.error_type == "import" and "already exists" in other.error
    assert git(repo, "rev-parse", first.branch_name) == first.commit  # the first task's branch is left as it was


async def test_agent_failure_is_a_failed_result_with_its_reason(repo, orchard_home):
    result = await run(instance(repo, agent=f"DEMO_AGENT_FAIL='model said no' {DEMO_AGENT}"))
    assert not result.success and result.status == "failed" and result.error_type == "agent"
    assert "exited with code 1" in result.error and "model said no" in result.error
    assert orchard_branches(repo) == []


def _alive(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


def _count(marker: str) -> int:
    return len(subprocess.run(["pgrep", "-f", f"^{marker}"], capture_output=True, text=True).stdout.split())


async def test_timeout_kills_the_whole_process_group(repo, orchard_home):
    marker = f"orchard-test-sleeper-{uuid.uuid4().hex[:12]}"
    agent = f"bash -c 'exec -a {marker} sleep 60' & bash -c 'exec -a {marker} sleep 60'"
    task = asyncio.ensure_future(run(instance(repo, agent=agent, timeout=1)))
    while _count(marker) < 2:  # both sleepers run before the timeout
        assert not task.done(), "the agent's sleepers never ran"
        await asyncio.sleep(0.02)
    result = await task
    assert result.status == "timeout" and "timed out after 1s" in result.error
    assert not _alive(marker)
    assert not workspaces_dir("run_t1").exists()


async def test_cancel_stops_the_agent_and_removes_the_workspace(repo, orchard_home):
    marker = f"orchard-test-cancel-{uuid.uuid4().hex[:12]}"
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run(run_instance, instance(repo, agent=f"bash -c 'exec -a {marker} sleep 60'")))
    for _ in range(100):
        if _alive(marker):
            break
        await asyncio.sleep(0.05)
    assert _alive(marker)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # SIGKILL is sent before the cancel is reported; the kernel ends the process when it next runs it
    assert gone_within(lambda: [1] if _alive(marker) else [], 5.0)
    assert not workspaces_dir("run_t1").exists()


async def test_credentials_never_leave_the_activity(repo, orchard_home, monkeypatch):
    canary = "sk-canary-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    # the local runner's agent has the worker's whole environment (a sandboxed command agent gets no credential it is not given)
    result = await run(instance(repo, agent=f"DEMO_AGENT_SECRET_ENV=ANTHROPIC_API_KEY {DEMO_AGENT}", runner="local"))
    assert result.success
    assert canary not in result.model_dump_json()
    assert "[redacted ANTHROPIC_API_KEY]" in result.final_message
    for f in instance_dir("run_t1", "gen/1").rglob("*"):
        assert canary not in f.read_text(), f


async def test_a_retry_resumes_the_agent_session_in_the_kept_workspace(repo, orchard_home, tmp_path):
    # A stand-in for a session-capable CLI: records its arguments, commits, prints a stream-json result.
    calls = tmp_path / "calls.log"
    cli = tmp_path / "fake-claude"
    cli.write_text(
        "#!/bin/bash\n"
        f'printf "%s\\n" "$*" >> {calls}\n'
        "echo resumed >> resumed.txt && git add -A && git commit -qm resumed\n"
        'echo \'{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1","num_turns":1}\'\n'
    )
    cli.chmod(0o755)
    inp = instance(repo, plugin="claude-code", runner="local", plugin_options={"executable": str(cli)})
    # The worker died mid-run: the workspace is still there and the heartbeats named the session.
    workspace = workspaces_dir("run_t1") / f"k{inp.branch.rsplit('/k', 1)[1]}"
    await prepare_workspace(repo, git(repo, "rev-parse", "main"), workspace, inp.branch)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=[{"session_id": "s-1", "phase": "agent running"}])
    result = await env.run(run_instance, inp)

    assert result.success and result.session_id == "s-1"
    (call,) = calls.read_text().splitlines()
    assert "--resume s-1" in call and "Continue where you left off" in call and "add a greeting" not in call
    again = await ActivityEnvironment().run(run_instance, inp)  # the record is this task's, resumed or not
    assert again.commit == result.commit and again.final_message == "done"  # from the record itself
    assert len(calls.read_text().splitlines()) == 1


@pytest.mark.parametrize(
    "launcher",
    ["", "env -i setsid"],  # a background job holding stdout; a daemon in its own session, without the tag
    ids=["background-job", "daemon"],
)
async def test_the_instance_ends_when_the_agent_exits_and_what_it_left_running_is_killed(repo, orchard_home, launcher):
    marker = f"orchard-left-{uuid.uuid4().hex[:6]}"
    leftover = f"{launcher} /bin/bash -c 'exec -a {marker} sleep 300' &"
    agent = f"{leftover} echo work > left.txt && git add -A && git commit -qm left && echo done"
    started = time.monotonic()
    result = await run(instance(repo, agent=agent, timeout=60))
    assert result.success and result.status == "success" and time.monotonic() - started < 10  # not the 60 s timeout
    assert result.final_message == "done" and git(repo, "show", f"{result.branch_name}:left.txt") == "work"
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1  # nothing of it is left


@pytest.mark.parametrize("agent", [
    "git checkout -q --orphan elsewhere && git commit -qm 'a history of its own'",  # a new commit that does not descend from the base
    "git reset -q --hard {side}",  # a commit the repository holds already, beside the base
])
async def test_a_head_that_does_not_descend_from_the_base_is_refused(repo, orchard_home, agent):
    git(repo, "branch", "side")
    git(repo, "commit", "-q", "--allow-empty", "-m", "main moves on")
    git(repo, "checkout", "-q", "side")
    git(repo, "commit", "-q", "--allow-empty", "-m", "a side commit")
    side = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    result = await run(instance(repo, agent=agent.format(side=side)))
    assert not result.success and result.error_type == "import" and "does not descend from the base commit" in (result.error or "")
    assert orchard_branches(repo) == []
