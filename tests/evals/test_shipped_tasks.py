"""Every shipped task's hidden check tells the fixes apart: it fails on the task's repository as
given and on the plausible wrong fix, and passes on the reference fix (checked as `orchard eval`
checks a candidate: a fresh copy of the commit, the hidden files beside it)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from client.evals.checks import check_commit
from client.evals.tasks import EvalTask, load_tasks, make_repository
from tests.conftest import ROOT, git

pytestmark = pytest.mark.slow


async def verdicts(task: EvalTask, folder: Path) -> dict[str, bool]:
    repo = folder / "repo"
    commits = {"base": make_repository(task, repo)}
    for kind in ("solution", "wrong"):
        git(repo, "checkout", "-q", "-B", kind, commits["base"])
        shutil.copytree(task.folder / kind, repo, dirs_exist_ok=True)
        git(repo, "commit", "-qam", kind)
        commits[kind] = git(repo, "rev-parse", "HEAD")
    return {kind: (await check_commit(task, repo, commit, folder / kind, 120, sandboxed=False)).passed for kind, commit in commits.items()}


async def test_each_hidden_check_passes_the_reference_fix_alone(tmp_path):
    tasks = load_tasks(ROOT / "evals" / "tasks")
    at_once = asyncio.Semaphore(2)

    async def one(task: EvalTask) -> tuple[str, dict[str, bool]]:
        async with at_once:
            return task.name, await verdicts(task, tmp_path / task.name)

    found = dict(await asyncio.gather(*(one(t) for t in tasks)))
    assert found == {t.name: {"base": False, "solution": True, "wrong": False} for t in tasks}
