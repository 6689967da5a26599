"""Isolated workspaces: a fresh repository borrowing the user's objects, checked out at a commit.

`git init` + an alternates file + `git checkout` costs what `git worktree add` costs (the
checkout dominates) and copies no history, yet the agent gets its own refs, index and config:
nothing it does with git can move a branch of the user's repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

from activities.gitcmd import git

AGENT_NAME = "Orchard Agent"
AGENT_EMAIL = "agent@orchard.invalid"


_objects_dirs: dict[str, Path] = {}
_host_identity: list[bool] = []


async def objects_dir(repo: str | Path) -> Path:
    """The object store a workspace borrows (the common dir's, also for linked worktrees); cached."""
    key = str(repo)
    if key not in _objects_dirs:
        common = await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo)
        _objects_dirs[key] = Path(common) / "objects"
    return _objects_dirs[key]


async def host_has_identity(cwd: Path) -> bool:
    """Whether git on this host has a committer identity (asked once per worker)."""
    if not _host_identity:
        _host_identity.append(bool(await git("config", "user.email", cwd=cwd, check=False)))
    return _host_identity[0]


async def prepare_workspace(repo: str | Path, commit: str, dest: Path, branch: str) -> Path:
    """A workspace at `dest` on a new local branch `branch` at `commit` of `repo`.

    Two git processes (init, checkout): per-instance cost is dominated by process starts on
    small repositories and by the checkout on large ones, as for `git worktree add`.
    """
    await remove_workspace(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    objects = await objects_dir(repo)
    await git("init", "--quiet", str(dest), cwd=dest.parent)
    (dest / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    # The import fetches the agent's commit by id; agents need an identity if the host has none.
    settings = "[uploadpack]\n\tallowAnySHA1InWant = true\n"
    if not await host_has_identity(dest.parent):
        settings += f"[user]\n\tname = {AGENT_NAME}\n\temail = {AGENT_EMAIL}\n"
    with (dest / ".git" / "config").open("a") as config:
        config.write(settings)
    await git("checkout", "--quiet", "-b", branch, commit, cwd=dest)
    return dest


async def remove_workspace(path: Path) -> None:
    """Remove a workspace, and its run's folder once it is the last one."""
    if path.exists():
        await asyncio.to_thread(shutil.rmtree, path, True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
