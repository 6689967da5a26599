"""Running git from async activities without blocking the worker's event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


class GitError(Exception):
    def __init__(self, args: tuple[str, ...], code: int, stderr: str):
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()[:500]}")
        self.code = code
        self.stderr = stderr


async def git(*args: str, cwd: str | Path, check: bool = True) -> str:
    """Run `git ARGS` in cwd and return stdout (stripped); raises GitError on failure if check."""
    return (await git_bytes(*args, cwd=cwd, check=check)).decode(errors="replace").strip()


async def git_bytes(*args: str, cwd: str | Path, check: bool = True, input: bytes | None = None) -> bytes:
    """`git ARGS` with `input` on its stdin; its stdout as it is."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=str(cwd),
        stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **GIT_ENV},
    )
    out, err = await proc.communicate(input)
    if check and proc.returncode != 0:
        raise GitError(args, proc.returncode or -1, err.decode(errors="replace"))
    return out


async def rev_parse(repo: str | Path, rev: str) -> str | None:
    """The commit id `rev` names in repo, or None."""
    out = await git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo, check=False)
    return out or None
