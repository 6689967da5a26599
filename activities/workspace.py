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


async def objects_dir(repo: str | Path) -> Path:
    common = await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo)
    return Path(common) / "objects"


async def prepare_workspace(repo: str | Path, commit: str, dest: Path, branch: str) -> Path:
    """A workspace at `dest` on a new local branch `branch` at `commit` of `repo`."""
    await remove_workspace(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    objects = await objects_dir(repo)
    await git("init", "--quiet", str(dest), cwd=dest.parent)
    (dest / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    await git("checkout", "--quiet", "-b", branch, commit, cwd=dest)
    # Agents commit here; give them an identity if the host has none, and let the import fetch by id.
    if not await git("config", "user.email", cwd=dest, check=False):
        await git("config", "user.email", AGENT_EMAIL, cwd=dest)
        await git("config", "user.name", AGENT_NAME, cwd=dest)
    await git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=dest)
    return dest


async def remove_workspace(path: Path) -> None:
    """Remove a workspace, and its run's folder once it is the last one."""
    if path.exists():
        await asyncio.to_thread(shutil.rmtree, path, True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
