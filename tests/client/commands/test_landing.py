"""`orchard diff`, `land`, `pr` and `prune` driven as a user runs them (client.cli.main against the
session's server) on runs that Orchard's real activities made in a repository of the test's own.
Each refusal leaves the user's working tree, index, stash and other branches as they were."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.git.prompts import by_reference
from tests.client.commands.conftest import Orchard
from tests.conftest import DEMO_AGENT, final_result, git, orchard_branches
from workflows.sdk.models import RunInput, RunResult, TaskDefaults
from workflows.sdk.visibility import run_memo, run_search_attributes

pytestmark = pytest.mark.slow


async def real_run(client: Client, queue: str, repo: Path, strategy: str, prompt: str, params: dict[str, Any] | None = None,
                   base: str = "main") -> RunResult:
    """A run of Orchard's real activities on `repo`, started as `orchard run` starts one (memo, search attributes)."""
    run_input = RunInput(prompt=prompt, repo=str(repo), base_branch=base, params=params or {}, defaults=TaskDefaults(agent_command=DEMO_AGENT))
    handle = await client.start_workflow(strategy, run_input, id=f"run_land_{uuid.uuid4().hex[:8]}", task_queue=queue, result_type=RunResult,
                                         search_attributes=run_search_attributes(strategy, str(repo)), memo=run_memo(run_input, queue, prompt))
    return await final_result(handle)


def state(repo: Path, *besides: str) -> dict[str, Any]:
    """What of the user's a landing must leave as it was: each worktree's files, index and HEAD, the
    stash, and every branch but `besides`."""
    trees = {}
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            where = Path(line.removeprefix("worktree "))
            files = {str(p.relative_to(where)): p.read_bytes() for p in sorted(where.rglob("*")) if p.is_file() and ".git" not in p.parts}
            trees[str(where)] = (files, git(where, "ls-files", "--stage"), git(where, "status", "--porcelain"), git(where, "rev-parse", "HEAD"))
    branches = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/").splitlines()
    return {"trees": trees, "stash": git(repo, "stash", "list", "--format=%H %gs"),
            "branches": [b for b in branches if b.split()[0].removeprefix("refs/heads/") not in besides]}


def user_work(repo: Path) -> None:
    """The user's own work in progress: a stash, a change staged, another not, a file untracked."""
    (repo / "README.md").write_text("# stashed\n")
    git(repo, "stash")
    (repo / "README.md").write_text("# staged edit\n")
    git(repo, "add", "README.md")
    (repo / "app.py").write_text("print('unstaged edit')\n")
    (repo / "notes.txt").write_text("untracked\n")


def commit_on(repo: Path, branch: str, path: str, text: str) -> str:
    """A commit on `branch` (not checked out) changing `path`, made without touching any worktree."""
    blob = git(repo, "hash-object", "-w", "--stdin", input=text)
    base = git(repo, "rev-parse", branch)
    index = repo.parent / f"index-{uuid.uuid4().hex[:6]}"
    env_git = ["-c", "core.hooksPath=/dev/null"]
    os.environ["GIT_INDEX_FILE"] = str(index)
    try:
        git(repo, *env_git, "read-tree", base)
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        tree = git(repo, "write-tree")
    finally:
        del os.environ["GIT_INDEX_FILE"]
    commit = git(repo, "commit-tree", tree, "-p", base, "-m", f"user: {path}")
    git(repo, "update-ref", f"refs/heads/{branch}", commit, base)
    return commit


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "Test",
                        "GIT_COMMITTER_EMAIL": "t@example.invalid"}.items():
        monkeypatch.setenv(name, value)


async def test_land_onto_a_branch_not_checked_out_by_compare_and_swap_and_again_is_a_no_op(orchard: Orchard, client, task_queue, repo: Path, identity):
    result = await real_run(client, task_queue, repo, "best-of-n", "add a greeting", {"n": 2})
    winner = next(r for r in result.instances if r.winner)
    git(repo, "checkout", "-q", "-b", "work")
    user_work(repo)
    before = state(repo, "main")

    said = await orchard("land", result.run_id)
    assert (said.code, said.out) == (2, "") and said.err == ("orchard: main is a protected branch; pass --allow-protected to land on it "
                                                             "(or --onto another branch)\n")
    assert state(repo) == {**before, "branches": state(repo)["branches"]} and git(repo, "rev-parse", "main") == result.base_commit

    said = await orchard("land", result.run_id, "--allow-protected")
    assert said.code == 0, said.err
    assert git(repo, "rev-parse", "main") == winner.commit  # a fast-forward: main was where the run started
    assert said.out.startswith(f"landed candidate {winner.selection.candidate} ({winner.branch_name}) of run {result.run_id} onto main by fast-forward: ")
    assert state(repo, "main") == before  # the checkout on `work`, its index, the stash and the other branches untouched

    again = await orchard("land", result.run_id, "--allow-protected")
    assert again.code == 0 and again.out.startswith("already landed: ") and again.out.rstrip().endswith("; nothing to do")
    assert git(repo, "rev-parse", "main") == winner.commit

    shown = await orchard("show", result.run_id)
    assert f"landed candidate {winner.selection.candidate} ({winner.branch_name}) of run {result.run_id} onto main by fast-forward" in shown.out
    data = json.loads((await orchard("show", result.run_id, "--output", "json")).out)
    assert [(x["onto"], x["how"], x["after"], x["fast_forward"]) for x in data["landings"]] == [("main", "merge", winner.commit, True)]
    listed = await orchard("list", "--repo", str(repo), "--output", "json")
    assert {row["run_id"]: row["landed"] for row in map(json.loads, listed.lines)}[result.run_id] == ["main"]
    table = await orchard("list", "--repo", str(repo))
    assert next(line for line in table.lines if line.startswith(result.run_id)).endswith("  landed on main")


async def test_land_on_a_checked_out_branch_only_when_clean_and_a_conflict_changes_nothing(orchard: Orchard, client, task_queue, repo: Path,
                                                                                           identity, tmp_path: Path):
    result = await real_run(client, task_queue, repo, "simple", "Write `app.py` with a greeting")
    candidate = result.instances[0]
    for name in ("dirty", "behind", "clash"):
        git(repo, "branch", name, "main")
    commit_on(repo, "behind", "other.txt", "the user's own work\n")
    commit_on(repo, "clash", "app.py", "print('the user rewrote it')\n")
    dirty, behind, clash = (tmp_path / f"wt-{name}" for name in ("dirty", "behind", "clash"))
    for where, name in ((dirty, "dirty"), (behind, "behind"), (clash, "clash")):
        git(repo, "worktree", "add", "-q", str(where), name)
    (dirty / "app.py").write_text("print('not committed')\n")
    git(repo, "stash", "list")
    user_work(repo)

    before = state(repo)
    said = await orchard("land", result.run_id, "--onto", "dirty")
    assert (said.code, said.out) == (2, "") and said.err == (f"orchard: dirty is checked out in {dirty} with uncommitted changes (app.py); "
                                                             "commit or stash them first; nothing was changed\n")
    assert state(repo) == before

    said = await orchard("land", result.run_id, "--onto", "clash")
    assert (said.code, said.out) == (1, "") and said.err == (f"orchard: candidate 1 ({candidate.branch_name}) conflicts with clash in: app.py; "
                                                             f"nothing was changed (merge it yourself: git merge {candidate.branch_name})\n")
    assert state(repo) == before
    said = await orchard("land", result.run_id, "--onto", "clash", "--how", "rebase")
    assert said.code == 1 and "conflicts with clash in: app.py; nothing was changed" in said.err
    assert state(repo) == before and "rebase" not in git(repo, "worktree", "list")  # its scratch worktree is gone

    old = git(repo, "rev-parse", "behind")
    said = await orchard("land", result.run_id, "--onto", "behind")  # a merge, made in the checkout by a fast-forward to it
    assert said.code == 0, said.err
    assert said.out.rstrip().endswith(f"(in the checkout {behind})") and " onto behind by merge: " in said.out
    merged = git(repo, "rev-parse", "behind")
    assert git(repo, "rev-list", "--parents", "-n1", merged).split()[1:] == [old, candidate.commit]
    assert (behind / "other.txt").read_text() == "the user's own work\n" and "greeting" in (behind / "app.py").read_text()
    assert git(behind, "status", "--porcelain") == ""
    after = state(repo, "behind")
    assert {k: v for k, v in after["trees"].items() if k != str(behind)} == {k: v for k, v in before["trees"].items() if k != str(behind)}
    assert after["stash"] == before["stash"] and after["branches"] == state(repo, "behind")["branches"]
    assert [b for b in before["branches"] if not b.startswith("refs/heads/behind ")] == after["branches"]


async def test_land_refuses_a_branch_that_moved_meanwhile_and_squashes_or_rebases(orchard: Orchard, client, task_queue, repo: Path, identity,
                                                                                  monkeypatch: pytest.MonkeyPatch):
    result = await real_run(client, task_queue, repo, "simple", "add a greeting")
    candidate = result.instances[0]
    for name in ("moving", "squashed", "rebased"):
        git(repo, "branch", name, "main")
        commit_on(repo, name, "other.txt", f"on {name}\n")
    user_work(repo)

    from client.landing import combine

    real = combine.combine

    async def someone_moves_it(repo_: Path, onto: str, commit: str, how: Any, message: str) -> combine.Combined:
        made = await real(repo_, onto, commit, how, message)
        commit_on(repo, "moving", "late.txt", "pushed meanwhile\n")
        return made

    monkeypatch.setattr(combine, "combine", someone_moves_it)
    before = state(repo, "moving")
    moved_to = git(repo, "rev-parse", "moving")
    said = await orchard("land", result.run_id, "--onto", "moving")
    assert (said.code, said.out) == (2, "") and said.err.startswith("orchard: moving moved while Orchard landed on it (it is no longer at ")
    assert said.err.endswith("); nothing was changed, try again\n")
    assert git(repo, "rev-parse", "moving^") == moved_to and git(repo, "show", "moving:late.txt") == "pushed meanwhile"  # the other's move stands
    assert state(repo, "moving") == before
    monkeypatch.setattr(combine, "combine", real)

    before = state(repo, "squashed", "rebased")
    old = git(repo, "rev-parse", "squashed")
    said = await orchard("land", result.run_id, "--onto", "squashed", "--how", "squash")
    assert said.code == 0 and " by squash: " in said.out, said.err
    assert git(repo, "rev-list", "--parents", "-n1", "squashed").split()[1:] == [old]  # one commit on the branch, the candidate's change in it
    assert git(repo, "diff", "--name-only", old, "squashed") == git(repo, "diff", "--name-only", result.base_commit, candidate.commit)
    assert git(repo, "log", "-1", "--format=%s", "squashed") == "add a greeting"

    old = git(repo, "rev-parse", "rebased")
    said = await orchard("land", result.run_id, "--onto", "rebased", "--how", "rebase")
    assert said.code == 0 and " by rebase: " in said.out, said.err
    picked = git(repo, "rev-list", "--reverse", f"{old}..rebased").split()
    assert len(picked) == len(git(repo, "rev-list", f"{result.base_commit}..{candidate.commit}").split())
    assert git(repo, "rev-parse", f"{picked[0]}^") == old and git(repo, "show", "rebased:other.txt") == "on rebased"
    assert git(repo, "log", "-1", "--format=%s", "rebased") == git(repo, "log", "-1", "--format=%s", candidate.commit)
    assert state(repo, "squashed", "rebased") == before
    again = await orchard("land", result.run_id, "--onto", "rebased", "--how", "rebase")
    assert again.code == 0 and again.out.startswith("already landed: ")
