"""The commit that lands a candidate on a branch, made without touching any working tree.

merge: a fast-forward when the branch is behind the candidate, else a merge commit whose tree is
`git merge-tree --write-tree`'s; squash: one commit on the branch with the merged tree; rebase: the
candidate's commits replayed on the branch, in a scratch worktree of Orchard's own (git 2.39's
merge-tree cannot pick one commit). A conflict is found here, before anything moves, and named.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from activities.git.command import GitError, git, git_now, is_ancestor

How = Literal["merge", "squash", "rebase"]
HOWS: tuple[How, ...] = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class Combined:
    """What landing would make of the branch: `after` (None: nothing to do, it holds the candidate already)."""

    after: str | None
    fast_forward: bool = False
    conflicts: list[str] = field(default_factory=list)


async def _merged_tree(repo: Path, onto: str, commit: str) -> tuple[str | None, list[str]]:
    """The tree merging `commit` into `onto` gives, or the files that conflict."""
    done = git_now("merge-tree", "--write-tree", "--name-only", "--no-messages", onto, commit, cwd=repo)
    lines = done.stdout.splitlines()
    if done.returncode == 0 and lines:
        return lines[0], []
    if done.returncode == 1 and lines:
        return None, sorted({line for line in lines[1:] if line})
    raise GitError(("merge-tree", onto, commit), done.returncode, done.stderr)


async def _rebased(repo: Path, onto: str, commit: str) -> tuple[str | None, list[str]]:
    """The candidate's commits since it left `onto`'s history, replayed on `onto`, or the files that conflict."""
    base = await git("merge-base", onto, commit, cwd=repo)
    with tempfile.TemporaryDirectory(prefix="orchard-land-") as scratch:
        where = Path(scratch) / "rebase"
        await git("worktree", "add", "--quiet", "--detach", str(where), commit, cwd=repo)
        try:
            try:
                await git("rebase", "--quiet", "--onto", onto, base, cwd=where)
            except GitError:
                conflicted = await git("diff", "--name-only", "--diff-filter=U", cwd=where, check=False)
                await git("rebase", "--abort", cwd=where, check=False)
                return None, sorted(set(conflicted.splitlines())) or ["(git rebase failed; see `git rebase` yourself)"]
            return await git("rev-parse", "HEAD", cwd=where), []
        finally:
            await git("worktree", "remove", "--force", str(where), cwd=repo, check=False)
            await git("worktree", "prune", cwd=repo, check=False)


async def combine(repo: Path, onto: str, commit: str, how: How, message: str) -> Combined:
    """How `commit` lands on the branch at `onto` (both commit ids), by `how`."""
    if await is_ancestor(repo, commit, onto):
        return Combined(None)
    if how != "squash" and await is_ancestor(repo, onto, commit):
        return Combined(commit, fast_forward=True)
    if how == "rebase":
        after, conflicts = await _rebased(repo, onto, commit)
        return Combined(after, conflicts=conflicts)
    tree, conflicts = await _merged_tree(repo, onto, commit)
    if tree is None:
        return Combined(None, conflicts=conflicts)
    parents = ["-p", onto] + (["-p", commit] if how == "merge" else [])
    return Combined(await git("commit-tree", tree, *parents, "-m", message, cwd=repo))
