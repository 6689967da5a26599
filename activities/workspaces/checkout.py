"""Where a runbook's own commands that run outside a pipeline's workspace (a queue's source, its
filter functions and hooks) run: the repository's root for a local repository; on a remote, a
checkout of the run's branch as the remote has it now, made from this host's mirror (its objects
borrowed, one per remote and branch on a host, moved to the branch's commit before each use).

Each use is recorded beside it (`<checkout>.users/<the run's id>`, touched at each use), so that
`orchard clean` removes a checkout only when no open run uses it (sweep_checkouts).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

from activities.git.command import git
from activities.git.origin import host_lock, open_origin
from activities.paths import orchard_home
from workflows.sdk.models import is_remote_repo

_checking_out: dict[str, asyncio.Lock] = {}


def checkouts_dir() -> Path:
    return orchard_home() / "checkouts"


def _users(checkout: Path) -> Path:
    return checkout.with_name(checkout.name + ".users")


async def commands_root(repo: str, branch: str, user: str | None) -> Path:
    """The folder the commands run in (see above); a remote's checkout is at `branch`'s commit now,
    its use by the run `user` (a workflow id; an activity outside a workflow has none) recorded."""
    if not is_remote_repo(repo):
        return Path(repo)
    origin = await open_origin(repo)
    commit = await origin.resolve(branch)
    if commit is None:
        raise FileNotFoundError(f"the branch {branch} is not on {repo}")
    dest = checkouts_dir() / hashlib.sha256(f"{repo}\0{branch}".encode()).hexdigest()[:16]
    dest.parent.mkdir(parents=True, exist_ok=True)
    async with _checking_out.setdefault(str(dest), asyncio.Lock()), host_lock(dest.with_suffix(".lock")):
        if not (dest / ".git" / "HEAD").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            await git("clone", "--quiet", "--shared", "--no-checkout", origin.read, str(dest), cwd=dest.parent)
        await git("checkout", "--quiet", "--force", "--detach", commit, cwd=dest)
        if user:
            _users(dest).mkdir(exist_ok=True)
            (_users(dest) / quote(user, safe="")).touch()  # now: a clean that listed the open runs before this use keeps it
    return dest


RECENT_USE = 10.0
"""A use this many seconds before the open runs were listed counts as in use: the listing (Temporal's
visibility) may not show a run that has just started as open yet, and the kernel stamps files from
a coarser clock than the one they are compared with."""


async def sweep_checkouts(open_run_ids: set[str], listed_at: float) -> list[Path]:
    """Remove the checkouts no open run uses (`open_run_ids`: the runs open at `listed_at`): one used
    by an open run, or since shortly before the runs were listed, is kept; one with no record of its
    users (an older Orchard made it) is kept while any run is open. Each under its lock, so that no
    use starts while it goes. The checkouts removed."""
    removed = []
    for checkout in sorted(p for p in checkouts_dir().iterdir() if p.is_dir() and "." not in p.name) if checkouts_dir().is_dir() else []:
        async with host_lock(checkout.with_suffix(".lock")):  # kept: a use waiting on it would take it again on a file of its own
            if not _users(checkout).is_dir():
                in_use = bool(open_run_ids)
            else:
                users = {u: unquote(u.name) in open_run_ids or u.stat().st_mtime >= listed_at - RECENT_USE for u in _users(checkout).iterdir()}
                in_use = any(users.values())
                for gone in [u for u, using in users.items() if not using and in_use]:
                    gone.unlink()  # a record of a run over (a cron's every run is a run of its own): kept checkouts gather none
            if not in_use:
                await asyncio.to_thread(shutil.rmtree, checkout, True)
                await asyncio.to_thread(shutil.rmtree, _users(checkout), True)
                removed.append(checkout)
    return removed
