"""Isolated workspaces: a fresh repository borrowing the user's objects, checked out at a commit.

`git init` + an alternates file + `git checkout` costs what `git worktree add` costs (the
checkout dominates) and copies no history, yet the agent gets its own refs, index and config:
nothing it does with git can move a branch of the user's repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from activities.git.command import git, git_bytes
from activities.git.overlay import is_overlay, mount_workspace, overlay_unavailable, unmount_workspace, written_paths

AGENT_NAME = "Orchard Agent"
AGENT_EMAIL = "agent@orchard.invalid"


_objects_dirs: dict[str, Path] = {}
_identity: list[tuple[str, str]] = []


async def objects_dir(repo: str | Path) -> Path:
    """The object store a workspace borrows (the common dir's, also for linked worktrees); cached."""
    key = str(repo)
    if key not in _objects_dirs:
        common = await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo)
        _objects_dirs[key] = Path(common) / "objects"
    return _objects_dirs[key]


async def commit_identity(cwd: Path) -> tuple[str, str]:
    """(name, email) agents commit as: the worker's git identity, else Orchard's (asked once)."""
    if not _identity:
        name = await git("config", "user.name", cwd=cwd, check=False)
        email = await git("config", "user.email", cwd=cwd, check=False)
        _identity.append((name, email) if name and email else (AGENT_NAME, AGENT_EMAIL))
    return _identity[0]


async def prepare_workspace(repo: str | Path, commit: str, dest: Path, branch: str, owner: int | None = None) -> Path:
    """A workspace at `dest` on a new local branch `branch` at `commit` of `repo`: a copy-on-write
    overlay of the host's base checkout of `commit` where overlays can be mounted
    (activities/git/overlay.py), else a checkout of its own. `owner`: the uid the tree belongs to
    (the docker runner's agent user), when it is not this process's.

    The checkout is two git processes (init, checkout): its cost is dominated by process starts on
    small repositories and by the checkout on large ones, as for `git worktree add`.
    """
    await remove_workspace(dest)
    with _run_folder_lock(dest.parent):
        dest.mkdir(parents=True)
    objects = await objects_dir(repo)
    if overlay_unavailable() is None:
        await mount_workspace(repo, commit, dest, branch, objects, await commit_identity(dest), owner)
        return dest
    await git("init", "--quiet", cwd=dest)
    (dest / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    # The import fetches the agent's commit by id. The identity lives in the workspace, so agents
    # commit as the worker's user whatever HOME or container they run with.
    name, email = await commit_identity(dest)
    with (dest / ".git" / "config").open("a") as config:
        config.write(f"[uploadpack]\n\tallowAnySHA1InWant = true\n[user]\n\tname = {json.dumps(name)}\n\temail = {json.dumps(email)}\n")
    await git("checkout", "--quiet", "-b", branch, commit, cwd=dest)
    return dest


async def commit_leftovers(workspace: Path, message: str) -> bool:
    """Commit on top of HEAD what was left uncommitted in the workspace (changed, deleted and new
    files, as `git add -A` takes them, and what is staged); whether there was any. In an overlay
    workspace git looks at the paths written in it only, so this costs the same whatever the
    tree's size (a full `git status` of 20,000 files through an overlay: 60 ms)."""
    paths = await asyncio.to_thread(written_paths, workspace)
    if paths is None:
        changed = bool(await git("status", "--porcelain", cwd=workspace))
        if changed:
            await git("add", "-A", cwd=workspace)
    else:
        staged = os.fsdecode(await git_bytes("diff-index", "--cached", "--name-only", "-z", "HEAD", cwd=workspace)).split("\0")  # written or not: `git rm --cached`
        asked = [*paths, *filter(None, staged)]
        listed = _status_paths(os.fsdecode(await git_bytes("--literal-pathspecs", "status", "--porcelain", "-z", "--", *asked, cwd=workspace))) if asked else []
        changed = bool(listed)
        if listed:  # named by status, so no ignored path is named to add (that fails)
            await git("--literal-pathspecs", "add", "-A", "--", *listed, cwd=workspace)
    # After an add, what the index holds against HEAD says whether there is a change (a file unstaged and added back is none).
    left = changed and bool(await git("diff-index", "--cached", "--name-only", "HEAD", cwd=workspace))
    if left:
        await git("commit", "--quiet", "--no-verify", "-m", message, cwd=workspace)
    return left


def _status_paths(porcelain_z: str) -> list[str]:
    """The paths `git status --porcelain -z` names (a rename's both)."""
    fields, paths = porcelain_z.split("\0"), []
    while fields:
        entry = fields.pop(0)
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC" and fields:
                paths.append(fields.pop(0))
    return paths


async def remove_workspace(path: Path) -> None:
    """Remove a workspace (an overlay: unmounted, and only what was written in it deleted), and
    its run's folder once it is the last one."""
    if is_overlay(path):
        await unmount_workspace(path)
    if path.exists():
        await asyncio.to_thread(shutil.rmtree, path, True)
    if path.parent.is_dir():
        with _run_folder_lock(path.parent), contextlib.suppress(OSError):
            path.parent.rmdir()


@contextlib.contextmanager
def _run_folder_lock(run_folder: Path) -> Iterator[None]:
    """Held (by any task of any worker on the host) while a workspace's folder is made in its run's
    folder, and while the run's folder is removed as empty: so removing the last workspace never
    takes the folder from under a sibling that is being prepared. Held for a mkdir or an rmdir."""
    run_folder.parent.mkdir(parents=True, exist_ok=True)
    with (run_folder.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
