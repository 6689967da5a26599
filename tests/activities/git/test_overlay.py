"""Copy-on-write workspaces: overlays of one base checkout per commit, real mounts (the tests run
as root, as CI does); where overlays cannot be mounted, checkouts of their own."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from activities.git import overlay
from activities.git.command import rev_parse
from activities.git.workspace import prepare_workspace, ready_agent_git, remove_workspace, take_work, wgit
from activities.runners.docker import AGENT_UID
from tests.conftest import git, make_repo

pytestmark = pytest.mark.skipif(overlay.overlay_unavailable() is not None, reason=f"no overlay mounts here: {overlay.overlay_unavailable()}")

FILES = 200


@pytest.fixture
def big_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "big", {f"src/f{i:03d}.txt": f"line {i}\n" for i in range(FILES)})


def _bases() -> list[Path]:
    return sorted(p for p in overlay.bases_dir().iterdir() if p.is_dir() and not p.name.startswith(overlay.GONE)) if overlay.bases_dir().exists() else []


async def test_an_agent_that_rewrites_every_file_changes_neither_the_base_nor_a_sibling(big_repo, orchard_home):
    commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "run_1"
    mine, sibling = [await prepare_workspace(big_repo, commit, run / f"k{i}", f"orchard/run_1/k{i}") for i in (1, 2)]
    assert os.path.ismount(mine) and os.path.ismount(sibling)
    (base,) = _bases()
    for i in range(FILES):  # the agent: rewrites every file, deletes half, commits
        path = mine / "src" / f"f{i:03d}.txt"
        path.unlink() if i % 2 else path.write_text("rewritten\n")
    git(mine, "add", "-A")
    git(mine, "commit", "-qm", "rewrite everything")
    assert git(mine, "branch", "--show-current") == "orchard/run_1/k1" and git(mine, "rev-parse", "HEAD^") == commit
    for tree in (base / "tree", sibling):
        assert sorted(p.name for p in (tree / "src").iterdir()) == [f"f{i:03d}.txt" for i in range(FILES)]
        assert (tree / "src" / "f000.txt").read_text() == "line 0\n"
    assert git(sibling, "status", "--porcelain") == "" and git(sibling, "rev-parse", "HEAD") == commit
    assert git(sibling, "branch", "--show-current") == "orchard/run_1/k2"


async def test_an_agent_writing_the_shared_base_by_its_path_is_refused_and_a_sibling_sees_the_base_as_it_was(big_repo, orchard_home):
    """The local runner's agent runs as the worker and can find its base (its layers name it, the
    mount table too): a write there by path is refused (the base is a read-only mount), where it
    used to show up on every sibling's branch."""
    commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "run_1"
    mine, sibling = [await prepare_workspace(big_repo, commit, run / f"k{i}", f"orchard/run_1/k{i}") for i in (1, 2)]
    tree = Path((overlay.layers_of(mine) / "base").read_text()) / "tree"
    agent = subprocess.run(["bash", "-c", f"echo pwned > {tree}/src/f000.txt; rm {tree}/src/f001.txt; touch {tree}/new.txt"],
                           cwd=mine, capture_output=True, text=True)
    assert agent.stderr.count("Read-only file system") == 3, agent.stderr
    assert (sibling / "src" / "f000.txt").read_text() == "line 0\n" and (sibling / "src" / "f001.txt").exists() and not (sibling / "new.txt").exists()
    assert git(sibling, "status", "--porcelain") == ""
    (mine / "src" / "f000.txt").write_text("mine\n")  # through its own overlay, as always
    assert (sibling / "src" / "f000.txt").read_text() == "line 0\n"
    for workspace in (mine, sibling):
        await remove_workspace(workspace)
    assert _bases() == [] and not any(str(tree) in line for line in Path("/proc/self/mounts").read_text().splitlines())


@pytest.mark.parametrize("owner", [None, AGENT_UID], ids=["worker's own", "the container user's"])
@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
async def test_a_fresh_workspace_trusts_the_copied_index_and_sees_a_file_put_in_anothers_place(big_repo, orchard_home, monkeypatch, owner, large):
    """Through the overlay every file has another ctime than the base's index says, which git is
    told not to trust; its owner and inode number are the base's, so nothing is re-read: no file is
    stat-dirty. A base file moved over another of the same size and time is seen (its inode is not
    the other's)."""
    monkeypatch.setattr(overlay, "RACY_INDEX_BYTES", 1 if large else 1 << 40)
    workspace = await prepare_workspace(big_repo, await rev_parse(big_repo, "HEAD"), orchard_home / "workspaces" / "r" / "k", "orchard/r/k", owner)
    assert git(workspace, "-c", "safe.directory=*", "diff-files", "--name-only") == ""  # compares stat data only, refreshes nothing
    assert git(workspace, "-c", "safe.directory=*", "status", "--porcelain") == ""
    os.replace(workspace / "src" / "f001.txt", workspace / "src" / "f002.txt")
    assert git(workspace, "-c", "safe.directory=*", "status", "--porcelain").splitlines() == ["D src/f001.txt", " M src/f002.txt"]
    await remove_workspace(workspace)


async def test_the_last_workspace_out_removes_the_base_and_removing_one_deletes_only_its_writes(big_repo, orchard_home):
    commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "run_2"
    first = await prepare_workspace(big_repo, commit, run / "k1", "orchard/a")
    second = await prepare_workspace(big_repo, commit, run / "k2", "orchard/b")
    (first / "new.txt").write_text("written\n")
    await remove_workspace(first)
    assert not first.exists() and not overlay.layers_of(first).exists()
    (base,) = _bases()
    assert (base / "tree" / "src" / "f001.txt").is_file() and not (base / "tree" / "new.txt").exists()
    await remove_workspace(second)
    await overlay.finished()  # the base's files are deleted after its removal returns
    assert list(overlay.bases_dir().iterdir()) == [] and not run.exists()  # the base and its lock file


async def test_a_base_left_by_a_worker_that_died_is_swept(big_repo, orchard_home):
    workspace = await prepare_workspace(big_repo, await rev_parse(big_repo, "HEAD"), orchard_home / "workspaces" / "r" / "k", "orchard/r/k")
    subprocess.run(["umount", str(workspace)], check=True)  # the worker died while removing it: the layers went, the count did not
    subprocess.run(["rm", "-rf", str(overlay.layers_of(workspace)), str(workspace)], check=True)
    assert len(_bases()) == 1
    assert await overlay.sweep_bases() == 1 and _bases() == []
    await overlay.finished()
    assert list(overlay.bases_dir().iterdir()) == []  # its lock file too


async def test_without_overlays_a_workspace_is_a_checkout_of_its_own(repo, orchard_home, monkeypatch):
    monkeypatch.setenv("ORCHARD_WORKSPACES", "checkout")
    overlay._probe.cache_clear()
    try:
        assert overlay.overlay_unavailable() == "ORCHARD_WORKSPACES=checkout asks for full checkouts"
        workspace = await prepare_workspace(repo, await rev_parse(repo, "HEAD"), orchard_home / "workspaces" / "r" / "k", "orchard/r/k")
        assert not os.path.ismount(workspace) and (workspace / ".git" / "index").is_file() and _bases() == []
        await remove_workspace(workspace)
    finally:
        monkeypatch.delenv("ORCHARD_WORKSPACES")
        overlay._probe.cache_clear()


async def test_workspaces_made_at_once_share_one_base_made_once(big_repo, orchard_home):
    import asyncio

    commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "run_3"
    made = await asyncio.gather(*(prepare_workspace(big_repo, commit, run / f"k{i}", f"orchard/run_3/k{i}") for i in range(8)))
    (base,) = _bases()
    assert len(list((base / "users").iterdir())) == 8
    assert all(git(w, "rev-parse", "HEAD") == commit and git(w, "status", "--porcelain") == "" for w in made)
    await asyncio.gather(*(remove_workspace(w) for w in made))
    await overlay.finished()
    assert list(overlay.bases_dir().iterdir()) == []


async def test_a_base_half_removed_by_a_killed_worker_is_made_again(big_repo, orchard_home):
    """A worker killed while it deleted a base could leave `ready` without the rest: the next
    workspace of that commit makes the base again rather than mounting what is left."""
    commit = await rev_parse(big_repo, "HEAD")
    first = await prepare_workspace(big_repo, commit, orchard_home / "workspaces" / "r" / "k1", "orchard/r/k1")
    (base,) = _bases()
    await remove_workspace(first)
    base.mkdir(parents=True)
    (base / "ready").write_text(commit)  # what such a kill left: no users/, no tree
    (overlay.bases_dir() / f"{overlay.GONE}{base.name}-dead").mkdir()  # and a removal's rename it never finished
    second = await prepare_workspace(big_repo, commit, orchard_home / "workspaces" / "r" / "k2", "orchard/r/k2")
    assert git(second, "status", "--porcelain") == "" and (second / "src" / "f000.txt").read_text() == "line 0\n"
    await remove_workspace(second)
    assert await overlay.sweep_bases() == 0
    await overlay.finished()
    assert list(overlay.bases_dir().iterdir()) == []


async def test_a_candidates_workspace_is_an_overlay_of_the_base_it_descends_from(big_repo, orchard_home):
    """A scorer or a check of a candidate starts from the candidate's commit: while the run's base
    is on the host, its workspace is an overlay of that base moved to the candidate, writing only
    what the candidate changed, not a new base checkout of the whole tree."""
    base_commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "run_3"
    candidate = await prepare_workspace(big_repo, base_commit, run / "k1", "orchard/run_3/k1")
    (candidate / "src" / "f001.txt").write_text("changed by the candidate\n")
    (candidate / "src" / "f002.txt").unlink()
    (candidate / "new.txt").write_text("new\n")
    git(candidate, "add", "-A")
    git(candidate, "commit", "-qm", "candidate")
    head = git(candidate, "rev-parse", "HEAD")
    git(big_repo, "fetch", "-q", str(candidate), f"{head}:refs/heads/orchard/run_3/k1")
    scorer = await prepare_workspace(big_repo, head, run / "score", "orchard-score")
    assert len(_bases()) == 1  # no base checkout of the candidate's commit
    assert git(scorer, "rev-parse", "HEAD") == head and git(scorer, "status", "--porcelain") == ""
    assert (scorer / "src" / "f001.txt").read_text() == "changed by the candidate\n" and not (scorer / "src" / "f002.txt").exists()
    assert (scorer / "new.txt").read_text() == "new\n"
    written = {p.relative_to(overlay.layers_of(scorer) / "upper").as_posix() for p in (overlay.layers_of(scorer) / "upper").rglob("*") if p.is_file()}
    assert {"src/f001.txt", "new.txt"} <= written and not any(w.startswith("src/f1") for w in written)  # only what differs
    (base,) = _bases()
    assert (base / "tree" / "src" / "f001.txt").read_text() == "line 1\n" and (base / "tree" / "src" / "f002.txt").exists()
    await remove_workspace(candidate)
    await remove_workspace(scorer)
    assert _bases() == []


async def test_a_large_bases_index_is_newer_than_its_files_so_no_workspace_reads_them_all_again(big_repo, orchard_home, monkeypatch):
    """This git compares whole seconds: files written in the index's own second would be read again
    by every git command of every workspace. A large base's files are dated a second before their
    checkout began and its index refreshed (here "large" is this test's 200 files), its entries kept
    in the shared index the workspaces read from the base. A change an agent makes at once, of the
    same size, is still seen: the file is newer than its entry."""
    monkeypatch.setattr(overlay, "RACY_INDEX_BYTES", 1)
    before = time.time()
    workspace = await prepare_workspace(big_repo, await rev_parse(big_repo, "HEAD"), orchard_home / "workspaces" / "r" / "k", "orchard/r/k")
    assert time.time() - before < 0.9  # no waiting for the checkout's second to pass
    (base,) = _bases()
    index_second = int((base / "tree" / ".git" / "index").stat().st_mtime)
    newest_file = max(int(p.stat().st_mtime) for p in (base / "tree" / "src").iterdir())
    assert index_second > newest_file
    assert git(workspace, "status", "--porcelain") == ""
    (workspace / "src" / "f007.txt").write_text("line X\n")  # same size, in the base's second
    assert git(workspace, "status", "--porcelain") == "M src/f007.txt"
    git(workspace, "checkout", "--", "src/f007.txt")
    # ... and the base's entries are still in its shared index: a workspace's commit writes only its change.
    (workspace / "CHANGED.md").write_text("changed\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "agent change")
    (shared,) = (base / "tree" / ".git").glob("sharedindex.*")
    assert (base / "tree" / ".git" / "index").stat().st_size < shared.stat().st_size / 4  # the split part holds no entry of the base's
    assert {p.name for p in (overlay.layers_of(workspace) / "upper" / ".git").glob("sharedindex.*")} <= {shared.name}
    await remove_workspace(workspace)


async def test_a_large_base_is_made_by_one_git_process_and_its_workspaces_work_as_with_git_s_own_init_and_split(big_repo, orchard_home, monkeypatch):
    """The base's `.git` is made as `git init` makes it, and its index split in the pass that makes
    it stat-clean: the checkout is the only git process. Its workspaces' git sees the tree as
    committed, commits an agent's change alone, and Orchard takes it."""
    monkeypatch.setattr(overlay, "RACY_INDEX_BYTES", 1)
    ran: list[str] = []
    real_git = overlay.git

    async def recorded(*args: str, **kwargs: object) -> str:
        ran.append(next(a for a in args if not a.startswith("-") and "=" not in a))
        return await real_git(*args, **kwargs)

    monkeypatch.setattr(overlay, "git", recorded)
    commit = await rev_parse(big_repo, "HEAD")
    workspace = await prepare_workspace(big_repo, commit, orchard_home / "workspaces" / "r" / "k", "orchard/r/k")
    assert ran == ["checkout"]
    (base,) = _bases()
    assert {p.name for p in (base / "tree" / ".git").iterdir()} >= {"HEAD", "config", "objects", "refs", "index", "info", "hooks"}
    assert git(base / "tree", "rev-parse", "HEAD") == commit and len(git(base / "tree", "ls-files").splitlines()) == FILES
    assert git(workspace, "status", "--porcelain") == ""
    (workspace / "src" / "f003.txt").write_text("line Y\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "agent change")
    assert git(workspace, "diff", "--name-only", commit, "HEAD") == "src/f003.txt"
    assert await take_work(workspace) == git(workspace, "rev-parse", "HEAD")
    await remove_workspace(workspace)


async def test_a_large_base_is_made_without_reading_its_files_and_a_same_second_change_is_committed_alone(big_repo, orchard_home, monkeypatch):
    """The base's index is made stat-clean by dating the checkout's last second back and recording
    what lstat says, no file read (relatime moves a file's atime past its mtime on a read: none
    has). In a workspace made at once, a change of the same size, in the same second, is committed
    by the agent's `git add -A` and by Orchard's leftovers, and nothing of the base comes with it."""
    monkeypatch.setattr(overlay, "RACY_INDEX_BYTES", 1)
    commit = await rev_parse(big_repo, "HEAD")
    run = orchard_home / "workspaces" / "r"
    agent, leftover = [await prepare_workspace(big_repo, commit, run / f"k{i}", f"orchard/r/k{i}") for i in (1, 2)]
    (base,) = _bases()
    files = list((base / "tree" / "src").iterdir())
    assert len(files) == FILES and all(p.lstat().st_atime_ns <= p.lstat().st_mtime_ns for p in files)
    assert git(base / "tree", "diff-files", "--name-only") == ""
    for workspace in (agent, leftover):
        (workspace / "src" / "f007.txt").write_text("line X\n")  # same size, at once
    git(agent, "add", "-A")
    git(agent, "commit", "-qm", "agent change")
    assert git(agent, "diff", "--name-only", commit, "HEAD") == "src/f007.txt"
    snapshot = await take_work(leftover, "leftovers")
    assert await wgit(leftover, "diff", "--name-only", commit, snapshot) == "src/f007.txt"
    assert await wgit(leftover, "show", f"{snapshot}:src/f007.txt") == "line X"
    assert (base / "tree" / "src" / "f007.txt").read_text() == "line 7\n"
    for workspace in (agent, leftover):
        await remove_workspace(workspace)


async def test_leftovers_are_committed_from_what_was_written_in_the_overlay_as_a_full_add_would(big_repo, orchard_home, tmp_path):
    """commit_leftovers asks git about the upper layer's paths only; the commit must hold what
    `git add -A` over the whole tree takes: changes, deletions, new files, a folder renamed and one
    made anew, a staged removal whose file was never written, and nothing ignored."""
    (big_repo / ".gitignore").write_text("*.log\n")
    (big_repo / "docs").mkdir()
    (big_repo / "docs" / "a.md").write_text("a\n")
    (big_repo / "keep").mkdir()
    (big_repo / "keep" / "k.txt").write_text("k\n")
    git(big_repo, "add", "-A")
    git(big_repo, "commit", "-qm", "more")
    commit = await rev_parse(big_repo, "HEAD")
    workspace = await prepare_workspace(big_repo, commit, orchard_home / "workspaces" / "r" / "k", "orchard/r/k")
    twin = tmp_path / "twin"  # a plain clone, changed the same way, committed with a full `git add -A`
    git(tmp_path, "clone", "-q", str(big_repo), "twin")

    def change(tree: Path) -> None:
        (tree / "src" / "f001.txt").write_text("changed\n")
        (tree / "src" / "f002.txt").unlink()
        (tree / "new dir" / "[x]*.txt").parent.mkdir()
        (tree / "new dir" / "[x]*.txt").write_text("new, with glob characters in its name\n")
        (tree / "debug.log").write_text("ignored\n")
        os.rename(tree / "docs", tree / "documents")
        subprocess.run(["rm", "-rf", str(tree / "keep")], check=True)
        (tree / "keep").mkdir()
        (tree / "keep" / "other.txt").write_text("made anew\n")
        git(tree, "rm", "-q", "--cached", "src/f003.txt")

    change(workspace)
    change(twin)
    snapshot = await take_work(workspace, "leftovers")
    assert snapshot != commit
    git(twin, "add", "-A")
    git(twin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "leftovers")
    assert await wgit(workspace, "rev-parse", "HEAD^{tree}") == git(twin, "rev-parse", "HEAD^{tree}")
    await ready_agent_git(workspace, "orchard/r/k")  # the agent's git, at the snapshot, sees nothing left
    assert git(workspace, "rev-parse", "HEAD") == snapshot and git(workspace, "status", "--porcelain") == ""
    assert await take_work(workspace, "nothing left") == snapshot
    git(workspace, "rm", "-q", "--cached", "src/f004.txt")  # unstaged, its file still there: no change, no empty commit
    assert await take_work(workspace, "nothing left") == snapshot
    await remove_workspace(workspace)


SAME_SIZE_FILES = {"a/1.txt": "line 1\n", "a/2.txt": "line 2\n", "a/sub/3.txt": "line 3\n", "b/1.txt": "line 4\n", "b/5.txt": "line 5\n",
                   "c/6.txt": "line 6\n", "top.txt": "line 7\n"}
"""Files of one size, in folders that share names: one put in another's place looks the same to a look at sizes and times."""


def _from_contents(workspace: Path, tmp: Path) -> tuple[str, str]:
    """What git finds reading every file (an index of HEAD with no stat data to trust; nothing is
    staged in these tests): its status, and the tree a full `git add -A` makes."""
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp / f"index-{uuid.uuid4().hex[:8]}")}
    look = functools.partial(subprocess.run, cwd=workspace, check=True, capture_output=True, text=True, env=env)
    look(["git", "read-tree", "HEAD"])
    status = look(["git", "status", "--porcelain", "-uall"]).stdout.strip()
    look(["git", "add", "-A"])
    return status, look(["git", "write-tree"]).stdout.strip()


def _change(workspace: Path, op: tuple[str, str, str]) -> None:
    """One of the things an agent does to files and folders; a no-op where its paths do not fit."""
    kind, one, other = op
    path, target = workspace / one, workspace / other
    if kind == "write" and not path.is_dir() and not path.is_symlink() and not any(p.is_file() or p.is_symlink() for p in path.parents):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.read_text().upper() if path.is_file() else "new\n")
    elif kind == "remove" and os.path.lexists(path):
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    elif kind == "remake" and path.is_dir() and not path.is_symlink():
        names = sorted(p.name for p in path.iterdir() if p.is_file())
        shutil.rmtree(path)
        path.mkdir()
        if names:
            (path / names[0]).write_text("LINE 0\n")
    elif kind == "rename" and os.path.lexists(path) and not os.path.lexists(target) and target.parent.is_dir() and not target.parent.is_symlink() \
            and not target.is_relative_to(path):
        os.rename(path, target)
    elif kind == "replace" and path.is_file() and target.is_file():
        os.replace(path, target)
    elif kind == "replace" and path.is_dir() and target.is_dir() and not path.is_relative_to(target) and not target.is_relative_to(path):
        shutil.rmtree(target)
        os.rename(path, target)
    elif kind == "chmod" and path.is_file():
        path.chmod(0o755)
    elif kind == "symlink" and path.is_file() and one != "top.txt":  # not a link to itself
        path.unlink()
        path.symlink_to("top.txt")


_paths = st.sampled_from([*SAME_SIZE_FILES, "a", "a/sub", "b", "c", "d", "d/new.txt", "a/new.txt", "a/sub/x"])
_ops = st.lists(st.tuples(st.sampled_from(["write", "remove", "remake", "rename", "replace", "chmod", "symlink"]), _paths, _paths), min_size=1, max_size=6)


@pytest.mark.slow  # 40 examples of real mounts and git: seconds
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(_ops, min_size=1, max_size=3), large=st.booleans())
@example(rounds=[[("replace", "a/1.txt", "b/1.txt")], [("replace", "a", "b")]], large=True)  # same size, same second
@example(rounds=[[("remove", "a", ""), ("write", "a", ""), ("symlink", "a", "")]], large=False)  # a folder made a link: its files are beyond it
def test_git_in_a_workspace_and_orchards_leftovers_see_every_change_reading_every_file_would(rounds, large, tmp_path, monkeypatch):
    """Whatever an agent does (rewrite files at their size, delete files and folders, make a folder
    anew over the base's, rename one, put a file or folder in another's place, chmod, a symlink for
    a file), in rounds with git in between, in a workspace of a small or a large base: its `git
    status` says what reading every file says, and commit_leftovers (which asks git about the
    upper layer's paths only) commits the tree a full `git add -A` makes."""
    monkeypatch.setattr(overlay, "RACY_INDEX_BYTES", 1 if large else 1 << 40)
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / f"home-{uuid.uuid4().hex[:8]}"))
    repo = tmp_path / "r"
    if not repo.exists():
        make_repo(repo, SAME_SIZE_FILES)
    asyncio.run(_agent_in_a_workspace(repo, rounds, tmp_path))


async def _agent_in_a_workspace(repo: Path, rounds: list[list[tuple[str, str, str]]], tmp: Path) -> None:
    workspace = await prepare_workspace(repo, git(repo, "rev-parse", "HEAD"), tmp / "ws" / uuid.uuid4().hex[:8], "orchard/r/k")
    try:
        for ops in rounds:
            for op in ops:
                _change(workspace, op)
            status, tree = _from_contents(workspace, tmp)
            assert git(workspace, "status", "--porcelain", "-uall") == status, ops
        await take_work(workspace, "leftovers")
        assert await wgit(workspace, "rev-parse", "HEAD^{tree}") == tree
    finally:
        await remove_workspace(workspace)
        await overlay.finished()  # the unmount's own end, in this example's event loop
