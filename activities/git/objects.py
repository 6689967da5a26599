"""Handing the objects of Orchard's git directory for a workspace to the repository, without a fetch.

Orchard's git directory borrows the repository's object store (an alternates file), so a
workspace's new objects (the agent's, verified as they came in: activities/git/intake.py, and
Orchard's own snapshot commits) are a handful of loose objects there. Moving them into the
repository's store (each linked, or written under a temporary name and renamed, as git writes
objects) costs a few file operations where a fetch costs three processes; the git directory
still sees them through its alternates. Its objects are never packed (gc.auto = 0).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from activities.git.command import git

LOOSE = set("0123456789abcdef")

_objects_dirs: dict[str, Path] = {}


async def objects_dir(repo: str | Path) -> Path:
    """The object store of `repo` that workspaces borrow (the common dir's, also for linked worktrees); cached."""
    key = str(repo)
    if key not in _objects_dirs:
        common = await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=repo)
        _objects_dirs[key] = Path(common) / "objects"
    return _objects_dirs[key]


def move_loose_objects(git_dir: Path, objects: Path) -> None:
    """Move the loose objects of `git_dir`, a git directory of Orchard's, into the store `objects`."""
    for folder in (git_dir / "objects").iterdir():
        if len(folder.name) != 2 or not set(folder.name) <= LOOSE:
            continue
        target_folder = objects / folder.name
        for loose in folder.iterdir():
            target = target_folder / loose.name
            if not target.exists():
                target_folder.mkdir(exist_ok=True)
                _place(loose, target)
            loose.unlink()


def _place(source: Path, target: Path) -> None:
    """`source` at `target`, appearing whole or not at all (another filesystem: copied, then renamed)."""
    try:
        os.link(source, target)
        return
    except FileExistsError:
        return
    except OSError:
        pass
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix="tmp_obj_")
    with os.fdopen(fd, "wb") as out, source.open("rb") as inp:
        shutil.copyfileobj(inp, out)
    os.chmod(temporary, 0o444)
    os.replace(temporary, target)
