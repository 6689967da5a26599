"""A kept workspace's branch (a loop's, a pipeline's) where the run's origin keeps it.

On a local repository the branch moves by `update-ref` (branch_import.advance_branch), as it
always has. On a remote it moves by a push with a lease against the commit the iteration or step
started from (`--force-with-lease`), so two hosts never overwrite each other. A host lost after
its push and before it reported leaves the branch ahead of where the run believes it is:
`unreported` finds that commit, and the next try takes it (a loop's iteration: nothing pushed is
done twice) or pushes over it (a pipeline's step, which runs again from where it started).
"""

from __future__ import annotations

from pathlib import Path

from activities.git.branch_import import ImportRefused, advance_branch, branch_moved, refuse_foreign
from activities.git.command import is_ancestor
from activities.git.origin import Origin, PushRefused
from activities.git.workspace import git_dir_of


async def advance(origin: Origin, workspace: Path, branch: str, start: str, head: str, exists: bool, named: bool = False,
                  over: str | None = None) -> None:
    """Move `branch` from `start` (`exists`: it is there; else it is made) to `head`, with the
    objects of Orchard's git directory for `workspace`; `over`: on a remote, the commit a lost host
    pushed there that this push replaces. ImportRefused when the branch is elsewhere."""
    if not origin.remote:
        await advance_branch(origin.read, workspace, branch, start, head, exists, named)
        return
    refuse_foreign(branch, named)
    try:
        if await origin.set_branch(branch, head, over or (start if exists else None), git_dir_of(workspace)):
            return
    except PushRefused as e:
        raise ImportRefused(str(e)) from None
    existing = await origin.branch(branch)
    if existing == head:
        return  # a retry that got this far
    if existing is not None and existing != over and await _descends(origin, start, existing):
        raise PushedMeanwhile(f"{branch} moved on from {start[:12]} to {existing[:12]} while this ran (a host thought lost pushed it); "
                              "trying again from there")
    raise branch_moved(branch, start, exists, existing)


class PushedMeanwhile(Exception):
    """A host the run thought lost pushed the branch on from where this try started while it ran:
    not final (a retry takes that commit, or pushes over it), unlike a branch someone else moved."""


async def unreported(origin: Origin, branch: str, start: str, exists: bool) -> str | None:
    """On a remote, the commit past `start` that `branch` is at when the run believes it at `start`
    (`exists`; else absent): what a host pushed and was lost before it reported; else None."""
    if not origin.remote:
        return None
    now = await origin.branch(branch)
    if now is None or now == (start if exists else None) or now == start:
        return None
    return now if await _descends(origin, start, now) else None


async def _descends(origin: Origin, start: str, commit: str) -> bool:
    await origin.holding(commit)
    return await is_ancestor(origin.read, start, commit)
