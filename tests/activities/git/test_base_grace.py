"""A base checkout kept for a grace after its last workspace (ORCHARD_BASE_GRACE): the next run from
the same commit mounts it without a checkout, never once it changed, and it goes when the grace
passes, when its worker stops, with `orchard clean` or at the next worker's start. Real mounts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from activities.git import overlay
from activities.git.command import rev_parse
from activities.git.workspace import prepare_workspace, remove_workspace
from tests.conftest import git, make_repo

pytestmark = pytest.mark.skipif(overlay.overlay_unavailable() is not None, reason=f"no overlay mounts here: {overlay.overlay_unavailable()}")


@pytest.fixture
def tree_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo", {f"src/f{i:02d}.txt": f"line {i}\n" for i in range(50)})


@pytest.fixture
def checkouts(monkeypatch) -> list[str]:
    """The commits a base was checked out for, in order."""
    made: list[str] = []
    make = overlay._make_base

    async def counting(repo, commit, *args):
        made.append(commit)
        await make(repo, commit, *args)

    monkeypatch.setattr(overlay, "_make_base", counting)
    return made


def _bases() -> list[Path]:
    return sorted(p for p in overlay.bases_dir().glob("*") if p.is_dir() and not p.name.startswith(overlay.GONE)) if overlay.bases_dir().exists() else []


def _sealed_mounts() -> list[str]:
    return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if line.split()[1].startswith(str(overlay.bases_dir()))]


async def _gone_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _bases() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not _bases()


async def test_the_next_run_from_the_same_commit_mounts_the_kept_base_and_the_workers_stop_removes_it(tree_repo, orchard_home, monkeypatch, checkouts):
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "60")
    commit = await rev_parse(tree_repo, "HEAD")
    first = await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1")
    await remove_workspace(first)
    (base,) = _bases()
    assert (base / "ready").is_file() and not any((base / "users").iterdir()) and _sealed_mounts()  # kept, still sealed
    second = await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_2" / "k1", "orchard/run_2/k1")
    assert checkouts == [commit] and _bases() == [base]  # no checkout again
    assert git(second, "status", "--porcelain") == "" and (second / "src" / "f01.txt").read_text() == "line 1\n"
    (second / "src" / "f01.txt").write_text("changed\n")
    await remove_workspace(second)
    assert await overlay._intact(base)  # what a workspace wrote never reached it
    assert await overlay.release_bases() == 1  # the worker stops: nothing of it would time the removal later
    await overlay.finished()
    assert _bases() == [] and _sealed_mounts() == []


@pytest.mark.parametrize("how", ["a file rewritten", "a file added", "the seal taken off"])
async def test_a_kept_base_changed_after_its_seal_is_never_served_again(tree_repo, orchard_home, monkeypatch, checkouts, how):
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "60")
    commit = await rev_parse(tree_repo, "HEAD")
    await remove_workspace(await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1"))
    (base,) = _bases()
    tree = base / "tree"
    subprocess.run(["umount", str(tree)], check=True)  # what a root agent could do: take the seal off, change the tree
    if how == "a file rewritten":
        size = (tree / "src" / "f01.txt").stat()
        (tree / "src" / "f01.txt").write_text("line X\n")  # same size, its mtime put back: only its ctime tells
        os.utime(tree / "src" / "f01.txt", ns=(size.st_atime_ns, size.st_mtime_ns))
    elif how == "a file added":
        (tree / "src" / "planted.txt").write_text("planted\n")
    if how != "the seal taken off":
        overlay.seal(tree)
    workspace = await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_2" / "k1", "orchard/run_2/k1")
    assert checkouts == [commit, commit]  # made again
    assert (workspace / "src" / "f01.txt").read_text() == "line 1\n" and not (workspace / "src" / "planted.txt").exists()
    assert git(workspace, "status", "--porcelain") == ""
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "0")
    await remove_workspace(workspace)
    await overlay.finished()
    assert _bases() == [] and _sealed_mounts() == []


async def test_a_kept_base_goes_when_its_grace_passes_with_no_workspace(tree_repo, orchard_home, monkeypatch):
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "0.5")
    commit = await rev_parse(tree_repo, "HEAD")
    await remove_workspace(await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1"))
    assert len(_bases()) == 1
    assert await _gone_within(15)  # its timer (the dev machine is loaded: no tight bound)
    await overlay.finished()
    assert list(overlay.bases_dir().iterdir()) == [] and _sealed_mounts() == []  # its lock file too


async def test_the_next_worker_removes_an_expired_base_and_times_the_rest_and_orchard_clean_removes_expired_ones(tree_repo, orchard_home, monkeypatch,
                                                                                                                 tmp_path):
    """A worker killed during the grace left its bases: the next worker's start removes those whose
    grace has passed and times the others; `orchard clean` removes the expired ones."""
    from client.commands.clean import clean

    monkeypatch.setenv("ORCHARD_BASE_GRACE", "60")
    repos = [tree_repo, make_repo(tmp_path / "other")]
    for i, repo in enumerate(repos):
        workspace = await prepare_workspace(repo, await rev_parse(repo, "HEAD"), orchard_home / "workspaces" / f"run_{i}" / "k1", f"orchard/run_{i}/k1")
        await remove_workspace(workspace)
    commit = await rev_parse(tree_repo, "HEAD")
    expired, kept = sorted(_bases(), key=lambda b: (b / "ready").read_text().strip() != commit)
    for timer in list(overlay._timed.values()):  # the worker that kept them dies
        timer.cancel()
    overlay._timed.clear()
    an_hour_ago = time.time() - 3600
    os.utime(expired / "users", (an_hour_ago, an_hour_ago))
    assert await overlay.sweep_bases() == 1 and _bases() == [kept] and kept in overlay._timed  # the next worker's start
    overlay._timed.pop(kept).cancel()  # that worker dies too, and the grace passes
    os.utime(kept / "users", (an_hour_ago, an_hour_ago))
    cleaned = await clean(None, set())
    assert cleaned.bases == 1 and "1 base checkout(s)" in cleaned.summary() and _bases() == []
    await overlay.release_bases()
    await overlay.finished()
    assert _sealed_mounts() == []


async def test_two_workers_making_and_removing_workspaces_of_one_commit_while_its_base_expires(tree_repo, orchard_home, monkeypatch):
    """Two workers on one host (here two event loops, each in its own thread, sharing the base's
    lock as two processes do) make and remove workspaces of one commit while its short grace runs
    out again and again: every workspace sees the whole tree, and at the end no base is left."""
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "0.02")
    commit = await rev_parse(tree_repo, "HEAD")
    problems: list[str] = []

    async def worker(name: str) -> None:
        for i in range(6):
            workspace = await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / f"run_{name}{i}" / "k1", f"orchard/{name}/{i}")
            if len(list((workspace / "src").iterdir())) != 50 or git(workspace, "status", "--porcelain"):
                problems.append(f"{name}{i}: {sorted(os.listdir(workspace / 'src'))[:3]}")
            await remove_workspace(workspace)
            await asyncio.sleep(0.02 * (i % 3))
        await asyncio.sleep(0.2)
        await overlay.release_bases()
        await overlay.finished()

    other = threading.Thread(target=asyncio.run, args=(worker("b"),))
    other.start()
    await worker("a")
    await asyncio.to_thread(other.join)
    assert problems == []
    await overlay.sweep_bases()
    await overlay.finished()
    assert _bases() == [] and _sealed_mounts() == []


async def test_a_workspace_joins_a_base_in_use_while_a_sibling_is_still_joining_it(tree_repo, orchard_home):
    """Best-of-n's instances, once the first has made the base: each joins it alongside the others
    (a shared hold of the base's lock), so none waits for a sibling's turn before its agent starts."""
    commit = await rev_parse(tree_repo, "HEAD")
    first = await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1")
    (base,) = _bases()
    async with overlay._locked(overlay._lock_of(base), shared=True):  # a sibling in the middle of joining
        second = await asyncio.wait_for(prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k2", "orchard/run_1/k2"), 30)
    assert len(list((base / "users").iterdir())) == 2 and git(second, "status", "--porcelain") == ""
    removal = asyncio.ensure_future(remove_workspace(first))
    async with overlay._locked(overlay._lock_of(base), shared=True):  # a removal waits for it: it may be the base's last user
        await asyncio.sleep(0.2)
        assert not removal.done()
    await removal
    await remove_workspace(second)
    await overlay.finished()
    assert _bases() == []


async def test_a_kept_base_serves_its_own_commit_only(tree_repo, orchard_home, monkeypatch, checkouts):
    """While workspaces use it, a base serves a later commit too (a run's scorers and checks, moved
    by what differs); kept idle for its grace, only its own commit: a run from a commit far ahead
    would write in every workspace all that changed since."""
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "60")
    first = await rev_parse(tree_repo, "HEAD")
    await remove_workspace(await prepare_workspace(tree_repo, first, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1"))
    (tree_repo / "src" / "f01.txt").write_text("later\n")
    git(tree_repo, "commit", "-qam", "later")
    later = await rev_parse(tree_repo, "HEAD")
    workspace = await prepare_workspace(tree_repo, later, orchard_home / "workspaces" / "run_2" / "k1", "orchard/run_2/k1")
    assert checkouts == [first, later] and (workspace / "src" / "f01.txt").read_text() == "later\n"
    again = await prepare_workspace(tree_repo, first, orchard_home / "workspaces" / "run_3" / "k1", "orchard/run_3/k1")
    assert checkouts == [first, later] and git(again, "rev-parse", "HEAD") == first  # its own commit: the kept base
    monkeypatch.setenv("ORCHARD_BASE_GRACE", "0")
    for w in (workspace, again):
        await remove_workspace(w)
    await overlay.release_bases()
    await overlay.finished()
    assert _bases() == [] and _sealed_mounts() == []


async def test_a_worker_that_stops_removes_the_bases_it_kept(tree_repo, orchard_home, monkeypatch, temporal_env):
    """`python worker.py`, `--with-worker` and every in-process worker: when it stops, nothing of
    it would remove a base it kept for its grace later, so it removes them (no seal left mounted)."""
    import uuid

    from orchard_worker.main import build_worker, strategies_for

    monkeypatch.setenv("ORCHARD_BASE_GRACE", "60")
    commit = await rev_parse(tree_repo, "HEAD")
    async with build_worker(temporal_env.client, f"test-grace-{uuid.uuid4().hex[:8]}", strategies_for([])):
        await remove_workspace(await prepare_workspace(tree_repo, commit, orchard_home / "workspaces" / "run_1" / "k1", "orchard/run_1/k1"))
        assert len(_bases()) == 1 and _sealed_mounts()
    await overlay.finished()
    assert _bases() == [] and _sealed_mounts() == []
