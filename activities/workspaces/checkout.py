"""Where a runbook's own commands that run outside a pipeline's workspace (a queue's source, its
filter functions and hooks) run: the repository's root for a local repository; on a remote, a
checkout of the run's branch as the remote has it now, made from this host's mirror (its objects
borrowed, one per remote and branch on a host, moved to the branch's commit before each use)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from activities.git.command import git
from activities.git.origin import host_lock, open_origin
from activities.paths import orchard_home
from workflows.sdk.models import is_remote_repo

_checking_out: dict[str, asyncio.Lock] = {}


async def commands_root(repo: str, branch: str) -> Path:
    """The folder the commands run in (see above); a remote's checkout is at `branch`'s commit now."""
    if not is_remote_repo(repo):
        return Path(repo)
    origin = await open_origin(repo)
    commit = await origin.resolve(branch)
    if commit is None:
        raise FileNotFoundError(f"the branch {branch} is not on {repo}")
    dest = orchard_home() / "checkouts" / hashlib.sha256(f"{repo}\0{branch}".encode()).hexdigest()[:16]
    dest.parent.mkdir(parents=True, exist_ok=True)
    async with _checking_out.setdefault(str(dest), asyncio.Lock()), host_lock(dest.with_suffix(".lock")):
        if not (dest / ".git" / "HEAD").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            await git("clone", "--quiet", "--shared", "--no-checkout", origin.read, str(dest), cwd=dest.parent)
        await git("checkout", "--quiet", "--force", "--detach", commit, cwd=dest)
    return dest
