"""Where a run's repository lives, seen from one worker host.

A local repository (a path every worker sees) is read and written in place: branches are created
in it with `update-ref`. A git remote (`orchard run --repo URL`, or `--remote origin`) is read
from this host's own bare mirror under $ORCHARD_HOME/mirrors/, fetched once per host and commit
(not per instance), and written to by pushes: the same compare-and-swap as `update-ref`, done by
`--force-with-lease`, so concurrent hosts never overwrite each other's branches.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from activities.git.command import ZERO_OID, GitError, git, has_object, rev_parse
from activities.git.objects import move_loose_objects, objects_dir
from activities.paths import orchard_home
from workflows.sdk.models import is_remote_repo

MIRROR_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/orchard/prompts/*:refs/orchard/prompts/*")
"""What a mirror holds: the remote's branches (Orchard's included) and the prompts runs pass by reference."""

_fetching: dict[str, asyncio.Lock] = {}


LOST_RACE = ("(stale info)", "(failed to update ref)", "cannot lock ref")
"""What git says of a push that lost to another (the lease checked, or the server's own update of the ref)."""


class PushRefused(Exception):
    """The remote itself refused the branch (a hook, a permission): final, not a race to retry."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    repo: str
    """The run's repository as the run names it: a path, or a remote's URL."""
    read: str
    """The local repository git reads from on this host: the repository itself, or this host's mirror."""

    @property
    def remote(self) -> bool:
        return self.read != self.repo

    async def branch(self, name: str) -> str | None:
        """The commit `refs/heads/<name>` is at where branches are written (the remote's, now)."""
        ref = f"refs/heads/{name}"
        if not self.remote:
            return await rev_parse(self.read, ref)
        listed = await git("ls-remote", "--", self.repo, ref, cwd=self.read)
        for line in listed.splitlines():
            oid, _, listed_ref = line.partition("\t")
            if listed_ref == ref:
                return oid
        return None

    async def set_branch(self, name: str, commit: str, expected: str | None, source: Path) -> bool:
        """Point `refs/heads/<name>` at `commit` if it is at `expected` now (None: it must not
        exist), with the objects of `source`, Orchard's git directory for a workspace; False if it is not."""
        ref = f"refs/heads/{name}"
        if not self.remote:
            move_loose_objects(source, await objects_dir(self.read))
            try:
                await git("update-ref", ref, commit, expected or ZERO_OID, cwd=self.read)
                return True
            except GitError:
                return False
        try:
            await git("push", "--quiet", "--no-verify", f"--force-with-lease={ref}:{expected or ''}", "--", self.repo, f"{commit}:{ref}", cwd=source)
        except GitError as e:
            if any(lost in e.stderr for lost in LOST_RACE):
                return False  # the branch is not where it was expected, or another push moved it first
            refused = re.search(r"\[remote rejected\] .*", e.stderr)
            if refused:
                raise PushRefused(f"{self.repo} refused {ref}: {refused.group(0)}") from None
            raise
        move_loose_objects(source, await objects_dir(self.read))  # this host's later work on it (a scorer, a check) needs no fetch
        await git("update-ref", ref, commit, cwd=self.read)
        return True

    async def resolve(self, rev: str) -> str | None:
        """The commit `rev` (a branch, or any revision) names, readable on this host: a remote's
        branch as the remote has it now (a candidate another host pushed, a base that moved)."""
        if self.remote:
            rev = await self.branch(rev) or rev
            await self.holding(rev)
        return await rev_parse(self.read, rev)

    async def holding(self, *revs: str) -> Origin:
        """This origin, with `revs` (object ids or refs) readable on this host: a mirror missing one fetches."""
        if self.remote:
            for rev in revs:
                if not await has_object(self.read, rev):
                    await refresh_mirror(self.repo, *revs)
                    break
        return self


def mirror_path(url: str) -> Path:
    return orchard_home() / "mirrors" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"


async def open_origin(repo: str, *revs: str) -> Origin:
    """The origin of `repo` on this host, holding `revs`; a remote's mirror is made on first use."""
    if not is_remote_repo(repo):
        return Origin(repo, repo)
    mirror = mirror_path(repo)
    if not (mirror / "HEAD").is_file():
        await refresh_mirror(repo)
    return await Origin(repo, str(mirror)).holding(*revs)


async def refresh_mirror(url: str, *wanted: str) -> Path:
    """Fetch the remote into this host's mirror (made first if need be) for the objects or refs
    `wanted`, one fetch at a time per mirror on this host: instances that wanted the same wait for
    the fetch under way and find them there, instead of fetching again."""
    mirror = mirror_path(url)
    lock = _fetching.setdefault(str(mirror), asyncio.Lock())
    mirror.parent.mkdir(parents=True, exist_ok=True)
    async with lock, host_lock(mirror.with_suffix(".lock")):
        if (mirror / "HEAD").is_file():
            if all([await has_object(mirror, rev) for rev in wanted]):
                return mirror  # fetched while this waited
        else:
            scratch = mirror.with_name(f".{mirror.name}.new")
            await git("init", "--quiet", "--bare", str(scratch), cwd=mirror.parent)
            await git("config", "remote.origin.url", url, cwd=scratch)
            await git("config", "gc.auto", "0", cwd=scratch)  # workspaces borrow its objects: no gc under them
            scratch.rename(mirror)
        try:
            await git("fetch", "--quiet", "--no-tags", "--prune", "origin", *MIRROR_REFSPECS, cwd=mirror)
        except GitError as e:
            raise GitError(("fetch", url), e.code, f"cannot fetch {url}: {e.stderr.strip()}") from None
    log.info("fetched %s into this host's mirror %s (%s)", url, mirror, f"for {', '.join(wanted)}" if wanted else "a new mirror")
    return mirror


@asynccontextmanager
async def host_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive flock shared by every worker process on this host (taken in a thread: it blocks)."""
    with path.open("a") as held:
        await asyncio.to_thread(fcntl.flock, held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
