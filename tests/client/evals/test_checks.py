"""The hidden check: run on a fresh copy of a candidate's commit (no .git, nothing of the user's
checkout), with the task's hidden files beside it, in a sandbox where bubblewrap works; a sandbox
bubblewrap could not make is tried again, never taken as the check's answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.evals.checks import check_commit, sandbox_available
from client.evals.tasks import load_tasks, make_repository
from tests.client.evals.test_tasks import task_folder
from tests.conftest import git

CHECK = 'test -f "$ORCHARD_EVAL_HIDDEN/expected" && diff -q "$ORCHARD_EVAL_HIDDEN/expected" answer.txt && test ! -e .git'


@pytest.fixture
def task_repo(tmp_path: Path):
    folder = task_folder(tmp_path / "tasks", toml=f"check = '{CHECK}'\n", repo={"answer.txt": "41\n"})
    (folder / "hidden").mkdir()
    (folder / "hidden" / "expected").write_text("42\n")
    (task,) = load_tasks(folder)
    repo = tmp_path / "repo"
    base = make_repository(task, repo)
    (repo / "answer.txt").write_text("42\n")
    git(repo, "commit", "-qam", "fix")
    return task, repo, base, git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("sandboxed", [False, True])
async def test_the_check_passes_the_fixed_commit_alone(task_repo, tmp_path, sandboxed):
    if sandboxed and sandbox_available():
        pytest.skip(f"no sandbox here: {sandbox_available()}")
    task, repo, base, fixed = task_repo
    passed = await check_commit(task, repo, fixed, tmp_path / "checks" / "fixed", 30, sandboxed)
    failed = await check_commit(task, repo, base, tmp_path / "checks" / "base", 30, sandboxed)
    assert (passed.passed, passed.detail) == (True, "")
    assert not failed.passed and failed.detail.startswith("the check exited 1")
    assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "HEAD") == fixed  # the repository as it was

