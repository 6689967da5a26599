"""`verify_commit` against a real repository and real processes: the command runs on a checkout
of the commit it is given (not the user's working tree), and its exit code decides."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.paths import workspaces_dir
from activities.verification.commit import verify_commit
from tests.conftest import git
from workflows.sdk.models import VerifyInput


def commit_on_branch(repo: Path, branch: str, text: str) -> str:
    git(repo, "checkout", "-q", "-b", branch, "main")
    (repo / "demo").mkdir(exist_ok=True)
    (repo / "demo" / f"{branch}.md").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", branch)
    return git(repo, "rev-parse", "HEAD")


async def test_the_command_runs_on_a_checkout_of_each_commit_and_its_exit_code_decides(repo, orchard_home):
    careful = commit_on_branch(repo, "careful", "Prioritize robustness.\n")
    simple = commit_on_branch(repo, "simple", "Favor the simplest change.\n")
    git(repo, "checkout", "-q", "main")
    (repo / "wip.txt").write_text("uncommitted\n")
    status = git(repo, "status", "--porcelain=v1")
    command = "! grep -rq robustness demo"

    env = ActivityEnvironment()
    rejected = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_v1", commit=careful, command=command, label="verify/candidate/2#1"))
    passed = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_v1", commit=simple, command=command, label="verify/candidate/1#2"))

    assert (rejected.passed, rejected.exit_code) == (False, 1)
    assert (passed.passed, passed.exit_code) == (True, 0)
    assert Path(rejected.log_path).read_text().startswith(f"$ {command}\n") and rejected.log_path != passed.log_path
    assert not workspaces_dir("run_v1").exists() or not any(workspaces_dir("run_v1").iterdir())  # checkouts removed
    assert git(repo, "status", "--porcelain=v1") == status and git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
