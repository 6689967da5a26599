"""Running git: from async activities without blocking the worker's event loop, and (git_now) from the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C",
    # Orchard's own git runs no hooks and no fsmonitor, wherever it runs: an agent could have
    # planted them in its workspace. It trusts workspaces owned by the docker runner's agent user.
    "GIT_CONFIG_COUNT": "5",
    "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": "/dev/null",
    "GIT_CONFIG_KEY_1": "core.fsmonitor", "GIT_CONFIG_VALUE_1": "false",
    "GIT_CONFIG_KEY_2": "safe.directory", "GIT_CONFIG_VALUE_2": "*",
    # A checkout of many files (a base, a workspace of its own) writes them from four processes
    # (git does past 100 files): where creating a file waits on the disk, as on this machine's
    # right after a mass deletion, 20,000 files took 6.5-10 s with one and 0.3-1.3 s with four.
    "GIT_CONFIG_KEY_3": "checkout.workers", "GIT_CONFIG_VALUE_3": "4",
    # No `git maintenance run --auto` after each commit and fetch (a process each): a workspace is
    # thrown away, and in the user's repository their own git's next commit runs it.
    "GIT_CONFIG_KEY_4": "maintenance.auto", "GIT_CONFIG_VALUE_4": "false",
}


ZERO_OID = "0" * 40
"""The id git takes for "no ref": a ref update expecting it creates the ref, or fails."""


class GitError(Exception):
    def __init__(self, args: tuple[str, ...], code: int, stderr: str):
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()[:500]}")
        self.code = code
        self.stderr = stderr


def git_now(*args: str, cwd: str | Path) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in cwd, blocking (the CLI's look at the user's repository, before any event
    loop work): its exit code and output as they are."""
    return subprocess.run(["git", *args], cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                          env={**os.environ, **GIT_ENV})


async def git(*args: str, cwd: str | Path, check: bool = True, git_dir: Path | None = None) -> str:
    """Run `git ARGS` in cwd and return stdout (stripped); raises GitError on failure if check."""
    return (await git_bytes(*args, cwd=cwd, check=check, git_dir=git_dir)).decode(errors="replace").strip()


async def git_bytes(*args: str, cwd: str | Path, check: bool = True, input: bytes | None = None, git_dir: Path | None = None) -> bytes:
    """`git ARGS` with `input` on its stdin; its stdout as it is. `git_dir`: the git directory to
    use, with cwd as its work tree (none is looked for: Orchard's own for a workspace)."""
    where = {"GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(cwd)} if git_dir is not None else {}
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=str(cwd),
        stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **GIT_ENV, **where},
    )
    out, err = await proc.communicate(input)
    if check and proc.returncode != 0:
        raise GitError(args, proc.returncode or -1, err.decode(errors="replace"))
    return out


async def rev_parse(repo: str | Path, rev: str) -> str | None:
    """The commit id `rev` names in repo, or None."""
    out = await git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo, check=False)
    return out or None


async def has_object(repo: str | Path, rev: str) -> bool:
    """Whether `rev` (an object id or a ref) names an object `repo` holds."""
    try:
        await git("cat-file", "-e", rev, cwd=repo)
        return True
    except GitError:
        return False


async def is_ancestor(repo: str | Path, ancestor: str, descendant: str) -> bool:
    try:
        await git("merge-base", "--is-ancestor", ancestor, descendant, cwd=repo)
        return True
    except GitError:
        return False


async def fetch_objects(repo: str | Path, source: str | Path, *revs: str) -> None:
    """Fetch `revs` (commit ids) from the repository at `source` into `repo`, refs untouched.
    `source` may belong to another user (the docker runner's agent): its upload-pack is told so,
    since git does not pass its config environment on to a local transport."""
    await git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--upload-pack=git -c safe.directory=* upload-pack", str(source), *revs, cwd=repo)
