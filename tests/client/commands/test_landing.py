"""`orchard diff`, `land`, `pr` and `prune` driven as a user runs them (client.cli.main against the
session's server) on runs that Orchard's real activities made in a repository of the test's own.
Each refusal leaves the user's working tree, index, stash and other branches as they were."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
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
    long_prompt = await by_reference(repo, "add a greeting\n" + "in every language " * 2000)  # the memo holds its marker
    result = await real_run(client, task_queue, repo, "simple", long_prompt)
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
    assert git(repo, "log", "-1", "--format=%s", "squashed") == "add a greeting"  # the prompt read from the repository

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


async def test_diff_shows_candidates_side_by_side_then_their_diffs(orchard: Orchard, client, task_queue, repo: Path):
    result = await real_run(client, task_queue, repo, "best-of-n", "add a greeting", {"n": 2})
    first, second = sorted(result.instances, key=lambda r: r.selection.candidate if r.selection else 0)
    said = await orchard("diff", result.run_id)
    assert said.code == 0, said.err
    header = next(line for line in said.lines if " K " in line).replace("┃", " ").split()
    assert header == ["K", "branch", "status", "files", "+/-", "verify", "score/checks", "agent"]
    assert said.out.count("diff --git") == 2 and "\x1b[" not in said.out  # not a terminal: no colours, no pager
    assert f"# candidate 1 ({first.branch_name}) against the base {result.base_commit[:12]}" in said.out
    assert f"score {first.metrics['score']:g}" in said.out and "command" in said.out

    between = await orchard("diff", result.run_id, "1", "2")
    assert between.code == 0 and f"# candidate 1 ({first.branch_name}) -> candidate 2 ({second.branch_name})" in between.out
    assert between.out.count("diff --git") == 2  # each candidate's file, one added and one gone
    stat_only = await orchard("diff", result.run_id, "2", "--stat")
    assert stat_only.code == 0 and "diff --git" not in stat_only.out and "1 file changed" in stat_only.out
    data = json.loads((await orchard("diff", result.run_id, "--output", "json")).out)
    assert data["base_commit"] == result.base_commit
    assert [(c["candidate"], c["branch"], c["files_changed"], c["insertions"] > 0) for c in data["candidates"]] == [
        (1, first.branch_name, 1, True), (2, second.branch_name, 1, True)]
    wrong = await orchard("diff", result.run_id, "7")
    assert (wrong.code, wrong.out) == (2, "") and wrong.err == (f"orchard: run {result.run_id} has no candidate '7'; its candidates: "
                                                                f"1 {first.branch_name}, 2 {second.branch_name}\n")


def stand_in_gh(folder: Path) -> Path:
    """A `gh` that records its arguments (one JSON list a line) and answers a pull request's URL."""
    folder.mkdir()
    gh = folder / "gh"
    gh.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                  "with open(os.environ['GH_LOG'], 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                  "print('https://github.example/acme/repo/pull/7')\n")
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    return folder / "calls.jsonl"


async def test_pr_pushes_the_candidate_and_opens_a_pull_request_with_gh(orchard: Orchard, client, task_queue, repo: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    result = await real_run(client, task_queue, repo, "best-of-n", "add a greeting\n\nsay hello to the user", {"n": 2})
    winner = next(r for r in result.instances if r.winner)

    without_gh = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "gh").exists())
    monkeypatch.setenv("PATH", without_gh)  # no gh: one line says how
    said = await orchard("pr", result.run_id)
    assert said.code == 0, said.err
    assert said.lines == [f"pushed {winner.branch_name} to origin",
                          f"gh (the GitHub CLI) is not installed: open the pull request of {winner.branch_name} into main on the remote's site, "
                          "or install gh and run `orchard pr` again"]
    assert git(remote, "rev-parse", winner.branch_name) == winner.commit

    calls = stand_in_gh(tmp_path / "bin")
    monkeypatch.setenv("GH_LOG", str(calls))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{without_gh}")
    said = await orchard("pr", result.run_id, "--candidate", "2")
    other = next(r for r in result.instances if r.selection and r.selection.candidate == 2)
    assert said.code == 0 and said.lines[-1] == "https://github.example/acme/repo/pull/7", said.err
    argv = json.loads(calls.read_text().splitlines()[-1])
    assert argv[:6] == ["pr", "create", "--head", other.branch_name, "--base", "main"]
    title, body = argv[argv.index("--title") + 1], argv[argv.index("--body") + 1]
    assert title == "add a greeting"
    assert f"run `{result.run_id}` (best-of-n), candidate 2 of 2" in body and "> say hello to the user" in body
    assert f"score {other.metrics['score']:g}" in body and "verification: -" in body and "- cost: " in body
    assert git(remote, "rev-parse", other.branch_name) == other.commit
    missing = await orchard("pr", result.run_id, "--remote", "upstream")
    assert (missing.code, missing.out) == (2, "") and missing.err == f"orchard: {repo} has no remote 'upstream'; its remotes: origin\n"


def on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """What `argv` prints with a terminal as its stdout."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE, env=env, cwd=cwd)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def mirror(home: Path, name: str, url: str) -> Path:
    made = home / "mirrors" / f"{name}.git"
    made.parent.mkdir(parents=True, exist_ok=True)
    git(made.parent, "init", "-q", "--bare", str(made))
    git(made, "config", "remote.origin.url", url)
    return made


async def test_prune_removes_what_finished_runs_left_and_never_the_user_s(orchard: Orchard, client, task_queue, scripted_queue, repo: Path,
                                                                          orchard_home: Path, identity, tmp_path: Path):
    from tests.conftest import start_scripted
    from tests.scripted import Script, until

    marker = await by_reference(repo, "add a greeting " + "x" * 40_000)  # a prompt kept by reference, under refs/orchard/prompts/
    prompt_ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/orchard/prompts/")
    done = await real_run(client, task_queue, repo, "simple", marker)
    landed = await real_run(client, task_queue, repo, "simple", "add a farewell")
    looked_at = await real_run(client, task_queue, repo, "simple", "add a note")
    hold = asyncio.Event()
    running = await start_scripted(client, scripted_queue, "simple", script := Script(holds={"simple": hold}), repo=str(repo))
    used_url = f"https://example.invalid/{uuid.uuid4().hex[:6]}.git"
    elsewhere = await start_scripted(client, scripted_queue, "simple", Script(holds={"simple": hold}), repo=used_url)
    await until(lambda: script.calls)
    git(repo, "branch", f"orchard/simple/{running.id}/k00000000", "main")
    git(repo, "branch", "orchard/simple/run_nobody_knows/k00000000", "main")
    git(repo, "branch", "feature", "main")
    git(repo, "branch", "landing", "main")
    assert (await orchard("land", landed.run_id, "--onto", "landing")).code == 0
    looking = tmp_path / "looking"
    git(repo, "worktree", "add", "-q", str(looking), looked_at.instances[0].branch_name)
    unused, used = mirror(orchard_home, "unused", "https://example.invalid/gone.git"), mirror(orchard_home, "used", used_url)
    leftover = orchard_home / "workspaces" / done.run_id / "k0000cafe"
    leftover.mkdir(parents=True)
    user_work(repo)
    before = state(repo)
    refs_before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")

    bad = await orchard("prune", "--older-than", "soon")
    assert (bad.code, bad.out) == (2, "") and bad.err.count("\n") == 1 and bad.err.startswith("orchard: --older-than 'soon' is not a duration")
    dry = await orchard("prune", "--keep-landed")
    assert dry.code == 0, dry.err
    assert dry.lines[0] == "would remove: 1 branch(es), 1 prompt(s), 1 mirror(s), 1 folder(s)"
    assert f"  branch {done.instances[0].branch_name} (run {done.run_id}: success, ended " in dry.out
    assert f"  prompt {prompt_ref}" in dry.lines and f"  mirror {unused} (https://example.invalid/gone.git)" in dry.lines
    assert f"  {leftover.parent}" in dry.lines
    assert f"  kept {landed.instances[0].branch_name}: its run landed (--keep-landed)" in dry.lines
    assert f"  kept {looked_at.instances[0].branch_name}: checked out" in dry.lines
    assert f"  kept orchard/simple/{running.id}/k00000000: its run is still running" in dry.lines
    assert "  kept orchard/simple/run_nobody_knows/k00000000: no run Temporal knows made it (name its run to prune it)" in dry.lines
    assert "(a dry run: nothing was removed; pass --yes to remove it)" in dry.lines and "feature" not in dry.out
    assert state(repo) == before and git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs_before
    assert unused.is_dir() and leftover.is_dir()

    recent = await orchard("prune", "--older-than", "7d", "--yes")
    assert recent.code == 0 and recent.lines[0] == "removed: nothing" and state(repo) == before
    assert f"  kept {done.instances[0].branch_name}: its run ended less than 7d ago (" in recent.out

    said = await orchard("prune", "--keep-landed", "--yes")
    assert said.code == 0, said.err
    assert said.lines[0] == "removed: 1 branch(es), 1 prompt(s), 1 mirror(s), 1 folder(s)"
    assert done.instances[0].branch_name not in orchard_branches(repo) and not git(repo, "for-each-ref", "refs/orchard/prompts/")
    assert not unused.exists() and used.is_dir() and not leftover.parent.exists()
    assert state(repo, done.instances[0].branch_name) == before | {"branches": [b for b in before["branches"] if done.run_id not in b]}

    named = await orchard("prune", landed.run_id, "--yes")  # without --keep-landed: its branch goes, the record of its landing stays
    assert named.code == 0 and named.lines[0].startswith("removed: 1 branch(es)"), named.out
    assert landed.instances[0].branch_name not in orchard_branches(repo)
    assert git(repo, "for-each-ref", "--format=%(refname)", f"refs/orchard/landed/{landed.run_id}")
    assert "landed candidate 1" in (await orchard("show", landed.run_id)).out
    assert looked_at.instances[0].branch_name in orchard_branches(repo) and "feature" in git(repo, "branch")
    hold.set()
    await final_result(running)
    await final_result(elsewhere)


async def test_land_in_the_user_s_own_checkout_never_overwrites_an_untracked_file_nor_a_branch_being_rebased(
        orchard: Orchard, client, task_queue, repo: Path, identity, tmp_path: Path):
    result = await real_run(client, task_queue, repo, "simple", "add a greeting")
    candidate = result.instances[0]
    added = git(repo, "diff", "--name-only", result.base_commit, candidate.commit)
    (repo / added).parent.mkdir(parents=True, exist_ok=True)
    (repo / added).write_text("the user's own file, never committed\n")  # where the candidate adds its file
    (repo / "README.md").write_text("# stashed\n")
    git(repo, "stash")
    before = state(repo)
    said = await orchard("land", result.run_id, "--allow-protected")
    assert (said.code, said.out) == (2, "") and said.err.startswith(f"orchard: git would not move main in {repo}: ")
    assert "untracked working tree files would be overwritten" in said.err and said.err.endswith("; nothing was changed\n")
    assert state(repo) == before and not git(repo, "for-each-ref", "refs/orchard/landed/")

    (repo / added).unlink()
    before = state(repo)
    said = await orchard("land", result.run_id, "--allow-protected")
    assert said.code == 0, said.err
    assert f" onto main by fast-forward: {result.base_commit[:12]}..{candidate.commit[:12]} at " in said.out
    assert said.out.rstrip().endswith(f"(in the checkout {repo})")
    assert git(repo, "rev-parse", "HEAD") == candidate.commit and (repo / added).is_file() and git(repo, "status", "--porcelain") == ""
    assert state(repo, "main")["stash"] == before["stash"]

    git(repo, "branch", "topic", result.base_commit)
    commit_on(repo, "topic", "app.py", "print('topic')\n")
    commit_on(repo, "topic", "app.py", "print('topic, again')\n")
    rebasing = tmp_path / "rebasing"
    git(repo, "worktree", "add", "-q", str(rebasing), "topic")
    commit_on(repo, "main", "app.py", "print('main')\n")
    assert subprocess.run(["git", "rebase", "main"], cwd=rebasing, capture_output=True).returncode != 0  # stopped on a conflict
    before = state(repo)
    said = await orchard("land", result.run_id, "--onto", "topic")
    assert (said.code, said.out) == (2, "") and said.err.startswith(f"orchard: topic is checked out in {rebasing} with uncommitted changes (app.py)")
    assert state(repo) == before


async def test_the_orchard_command_in_a_process_of_its_own_diffs_lands_and_prunes(client, task_queue, repo: Path, orchard_home: Path,
                                                                                   named_server: str, identity):
    from tests.conftest import orchard as orchard_process
    from tests.conftest import orchard_argv, orchard_env

    result = await real_run(client, task_queue, repo, "best-of-n", "add a greeting", {"n": 2})
    winner = next(r for r in result.instances if r.winner)
    env = orchard_env(orchard_home)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return orchard_process(*argv, "--address", named_server, env=env, cwd=repo)

    diffed = await asyncio.to_thread(run, "diff", result.run_id, "--stat")
    assert diffed.returncode == 0 and diffed.stdout.count(" 1 file changed") == 2, diffed.stderr
    paged = await asyncio.to_thread(on_a_terminal, [*orchard_argv("diff", result.run_id, "--address", named_server)],
                                    {**env, "GIT_PAGER": "sed s/^/paged:/"}, repo)
    assert "paged:diff --git" in paged.replace("\x1b[1m", "") and "\x1b[32m+" in paged  # git's pager, git's colours
    landed = await asyncio.to_thread(run, "land", result.run_id, "--onto", "main", "--allow-protected", "--how", "squash")
    assert landed.returncode == 0 and " onto main by squash: " in landed.stdout, landed.stderr
    assert git(repo, "rev-parse", "HEAD^") == result.base_commit and git(repo, "status", "--porcelain") == ""
    pruned = await asyncio.to_thread(run, "prune", "--keep-landed")
    assert pruned.returncode == 0 and pruned.stdout.splitlines()[0] == "would remove: nothing", pruned.stdout + pruned.stderr
    assert f"kept {winner.branch_name}: its run landed (--keep-landed)" in pruned.stdout
