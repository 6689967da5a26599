"""Whether an agent's commit descends from its base, and how many commits it adds, read from the
commits Orchard just took (no git process).

The agent's new commits land as loose objects in Orchard's own git directory for the workspace,
each one hashed and checked by git as it came in (activities/git/intake.py), so what they say of
their parents is what the commits are; a commit the repository held already (two agents that made
the same one) is read from the repository's store, which that directory borrows. Walking them from
the agent's HEAD answers the common case (commits on top of the base) by reading a few small
files, where `git merge-base --is-ancestor` and `git rev-list --count` cost a process each
(0.1-0.3 s apiece with eight instances at once on a loaded 2-core host). Anything else (a commit
that is not loose, a root that is not the base, too long a history) is left to git: None.
"""

from __future__ import annotations

import zlib
from pathlib import Path

MOST_COMMITS = 1000
"""A longer new history is left to git (the walk reads one file per commit)."""


def _stores(git_dir: Path) -> list[Path]:
    """The object stores of Orchard's git directory: its own, then the repository's it borrows
    (where an earlier instance's import moved the same commit, when two agents made the same)."""
    objects = git_dir / "objects"
    try:
        borrowed = [Path(line) for line in (objects / "info" / "alternates").read_text().splitlines() if line.strip()]
    except OSError:
        borrowed = []
    return [objects, *borrowed]


def _parents(stores: list[Path], oid: str) -> list[str] | None:
    """The parents of the commit `oid` if one of `stores` holds it as a loose object, else None."""
    for objects in stores:
        try:
            raw = zlib.decompress((objects / oid[:2] / oid[2:]).read_bytes())
            break
        except (OSError, zlib.error):
            continue
    else:
        return None
    header, _, body = raw.partition(b"\0")
    if not header.startswith(b"commit "):
        return None
    parents = []
    for line in body.split(b"\n"):
        if not line:
            break  # the end of the commit's headers
        if line.startswith(b"parent "):
            parents.append(line[7:].decode("ascii", "replace"))
    return parents


def commits_above(git_dir: Path, base: str, head: str) -> int | None:
    """The number of commits `head` adds to `base` (as `git rev-list --count base..head`) when every
    one of them is a loose commit of `git_dir`'s stores and every way down from `head` ends at
    `base` (so `base` is an ancestor of `head`); None when that cannot be told from them alone."""
    if head == base:
        return 0
    stores = _stores(git_dir)
    seen: set[str] = set()
    todo = [head]
    while todo:
        oid = todo.pop()
        if oid == base or oid in seen:
            continue
        if len(seen) >= MOST_COMMITS:
            return None
        parents = _parents(stores, oid)
        if not parents:  # not one of the new commits, or a root commit that is not the base
            return None
        seen.add(oid)
        todo.extend(parents)
    return len(seen)
