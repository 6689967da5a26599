"""Moving the branch a candidate lands on, with nothing of the user's lost or overwritten.

A branch checked out nowhere is moved by compare-and-swap (`git update-ref NEW OLD`): no working
tree is touched, and a branch that moved since it was read is refused. A branch checked out in a
worktree is moved there only when its working tree and index are clean, by `git merge --ff-only`
to the commit combine made: git itself refuses to overwrite anything (an untracked file in the
way), and a checkout that moved meanwhile is no longer a fast-forward. Never a reset.
"""

from __future__ import annotations

from pathlib import Path

from activities.git.command import GitError, git


class Refused(Exception):
    """The branch was left as it was, and why."""


async def checked_out(repo: Path) -> dict[str, Path]:
    """Every branch checked out in a worktree of `repo` (or being rebased there: its HEAD is
    detached meanwhile, and the rebase moves the branch when it ends), and where."""
    listed = await git("worktree", "list", "--porcelain", cwd=repo)
    found: dict[str, Path] = {}
    where: Path | None = None
    for line in listed.splitlines():
        if line.startswith("worktree "):
            where = Path(line.removeprefix("worktree "))
            for state in ("rebase-merge/head-name", "rebase-apply/head-name"):
                named = Path(await git("rev-parse", "--git-path", state, cwd=where, check=False) or "/nonexistent")
                named = named if named.is_absolute() else where / named
                if named.is_file():
                    found.setdefault(named.read_text().strip().removeprefix("refs/heads/"), where)
        elif line.startswith("branch refs/heads/") and where is not None:
            found.setdefault(line.removeprefix("branch refs/heads/"), where)
    return found


async def checked_out_in(repo: Path, branch: str) -> Path | None:
    """The worktree of `repo` that has `branch` checked out (or is rebasing it), if one has."""
    return (await checked_out(repo)).get(branch)


async def uncommitted(worktree: Path) -> list[str]:
    """The files of `worktree` whose changes are not committed (index or tracked files)."""
    await git("update-index", "-q", "--refresh", cwd=worktree, check=False)  # a file only touched is no change
    changed = await git("diff", "--name-only", "HEAD", cwd=worktree) + "\n" + await git("diff", "--cached", "--name-only", cwd=worktree)
    return sorted({line for line in changed.splitlines() if line})


def dirty_line(branch: str, worktree: Path, dirty: list[str]) -> str:
    shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
    return f"{branch} is checked out in {worktree} with uncommitted changes ({shown}); commit or stash them first; nothing was changed"


async def move_branch(repo: Path, branch: str, before: str, after: str, reason: str) -> Path | None:
    """Move `branch` from `before` to `after`; returns the worktree it was moved in, if checked out."""
    worktree = await checked_out_in(repo, branch)
    if worktree is None:
        try:
            await git("update-ref", "-m", reason, f"refs/heads/{branch}", after, before, cwd=repo)
        except GitError:
            raise Refused(f"{branch} moved while Orchard landed on it (it is no longer at {before[:12]}); nothing was changed, try again") from None
        return None
    dirty = await uncommitted(worktree)
    if dirty:
        raise Refused(dirty_line(branch, worktree, dirty))
    if await git("symbolic-ref", "-q", "HEAD", cwd=worktree, check=False) != f"refs/heads/{branch}":
        raise Refused(f"{branch} is being rebased in {worktree}; finish or abort the rebase first; nothing was changed")
    head = await git("rev-parse", "HEAD", cwd=worktree)
    if head != before:
        raise Refused(f"{branch} moved while Orchard landed on it (it is no longer at {before[:12]}); nothing was changed, try again")
    try:
        await git("merge", "--ff-only", "--quiet", after, cwd=worktree)
    except GitError as e:
        said = " ".join(e.stderr.split())[:300]
        raise Refused(f"git would not move {branch} in {worktree}: {said}; nothing was changed") from None
    return worktree
