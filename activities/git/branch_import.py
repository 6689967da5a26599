"""Importing an agent's commits into the user's repository as a new branch, and nothing else.

The user's working tree, index and checked-out branch are never touched: objects are fetched
from the workspace and the branch is created with `update-ref`, atomically (on a remote: pushed
with a lease, activities/git/origin.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from activities.git.ancestry import commits_above
from activities.git.command import ZERO_OID, GitError, git, is_ancestor, rev_parse
from activities.git.objects import move_loose_objects, objects_dir
from activities.git.origin import Origin, PushRefused
from activities.git.workspace import WorkspaceTampered, git_dir_of, take_work
from workflows.sdk.models import CommitStats, ConflictPolicy, ImportPolicy, is_protected_ref


class ImportRefused(Exception):
    """The agent's work cannot be imported as asked (conflict, protected ref, rewritten base)."""


async def commit_stats(repo: str | Path, base: str, head: str, commits: int | None = None) -> CommitStats:
    """What `head` changes from `base`; `commits`: how many commits it adds, when known (else git counts them)."""
    if base == head:
        return CommitStats()
    stats = await diff_stats(repo, base, head)
    stats.commits = commits if commits is not None else int(await git("rev-list", "--count", f"{base}..{head}", cwd=repo))
    return stats


async def diff_stats(repo: str | Path, base: str, head: str) -> CommitStats:
    """Files changed, insertions and deletions from `base` to `head` (commits not counted)."""
    shortstat = await git("diff", "--shortstat", base, head, cwd=repo)
    numbers = {m.group(2): int(m.group(1)) for m in re.finditer(r"(\d+) (file|insertion|deletion)", shortstat)}
    return CommitStats(files_changed=numbers.get("file", 0), insertions=numbers.get("insertion", 0), deletions=numbers.get("deletion", 0))


async def workspace_head(workspace: Path, base_commit: str) -> str:
    """The commit the agent left its workspace at, taken into Orchard's git directory for it
    (activities/git/workspace.py: take_work), if it descends from the base commit."""
    try:
        head = await take_work(workspace)
    except WorkspaceTampered as e:
        raise ImportRefused(str(e)) from None
    git_dir = git_dir_of(workspace)
    if commits_above(git_dir, base_commit, head) is None and not await is_ancestor(git_dir, base_commit, head):
        raise ImportRefused(f"the agent's HEAD {head[:12]} does not descend from the base commit {base_commit[:12]}")
    return head


def refuse_foreign(branch: str, named: bool = False) -> None:
    """Orchard writes its own branches only: never a protected one (main, release/…), never one
    outside orchard/ but the one a runbook names for its pipeline (`named`, which a run makes new)."""
    if is_protected_ref(branch):
        raise ImportRefused(f"refusing to write the protected branch {branch!r}")
    if not branch.startswith("orchard/") and not named:
        raise ImportRefused(f"refusing to write {branch!r}: Orchard writes only branches under orchard/")


def should_import(policy: ImportPolicy, has_changes: bool, skip_empty: bool) -> bool:
    if policy == "never":
        return False
    if policy == "always":
        return True
    return has_changes or not skip_empty


async def import_branch(origin: Origin, workspace: Path, head: str, branch: str, conflict_policy: ConflictPolicy) -> str:
    """Create `branch` at `head` (the workspace's commit, taken by workspace_head) in the run's
    repository, or on its remote; returns the branch used (another name under the `suffix` policy)."""
    refuse_foreign(branch)
    try:
        return await _create(origin, git_dir_of(workspace), head, branch, conflict_policy)
    except PushRefused as e:
        raise ImportRefused(str(e)) from None


async def _create(origin: Origin, git_dir: Path, head: str, branch: str, conflict_policy: ConflictPolicy) -> str:
    target = branch
    if not origin.remote and await origin.set_branch(target, head, None, git_dir):
        return target  # new, as a run's branch almost always is: made without looking first (one git process, not two)
    for n in range(2, 1000):
        existing = await origin.branch(target)
        if existing is None:
            if await origin.set_branch(target, head, None, git_dir):
                return target
            continue  # created concurrently: look again
        if existing == head:
            return target
        if conflict_policy == "overwrite":
            if await origin.set_branch(target, head, existing, git_dir):
                return target
            continue  # moved concurrently: look again
        if conflict_policy == "fail":
            raise ImportRefused(f"branch {target} already exists at {existing[:12]} (import_conflict_policy=fail)")
        target = f"{branch}-{n}"
    raise ImportRefused(f"no free branch name after {branch}-999")


async def advance_branch(repo: str | Path, workspace: Path, branch: str, start: str, head: str, exists: bool, named: bool = False) -> None:
    """Fast-forward a loop's `branch` from `start` to `head` (`exists`: it is at `start`; else it is
    created), with the objects of Orchard's git directory for the workspace. Atomic: a branch
    someone else moved is refused, and so is one to create that is there already (`named`: a
    pipeline's branch its runbook names, outside orchard/)."""
    refuse_foreign(branch, named)
    move_loose_objects(git_dir_of(workspace), await objects_dir(repo))
    try:
        await git("update-ref", f"refs/heads/{branch}", head, start if exists else ZERO_OID, cwd=repo)
    except GitError:
        existing = await rev_parse(repo, f"refs/heads/{branch}")
        if existing == head:
            return  # a retry of an iteration that got this far
        raise branch_moved(branch, start, exists, existing) from None


def branch_moved(branch: str, start: str, exists: bool, existing: str | None) -> ImportRefused:
    """Why a loop's (or a pipeline's) branch could not advance: it is somewhere the loop did not leave it."""
    if existing and not exists:
        return ImportRefused(f"the branch {branch} is there already (at {existing[:12]}): a run makes its branch and never takes one "
                             "over; delete it, or name another")
    where = f"to {existing[:12]}" if existing else "away"
    return ImportRefused(f"the loop's branch {branch} was moved outside the loop ({where}, expected "
                         f"{start[:12] if exists else 'none'}); the loop cannot go on")


async def ensure_branch(origin: Origin, branch: str, commit: str) -> bool:
    """Complete an import whose objects arrived but whose branch was not created; False if impossible."""
    existing = await origin.branch(branch)
    if existing == commit:
        return True
    if existing is not None or origin.remote or await rev_parse(origin.read, commit) is None:
        return False  # a remote's branch is pushed with its objects: absent there, it was never made
    await git("update-ref", f"refs/heads/{branch}", commit, ZERO_OID, cwd=origin.read)
    return True
