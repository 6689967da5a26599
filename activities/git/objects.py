"""Handing the objects an agent made in a workspace to the repository, without a fetch.

A workspace borrows the repository's object store (an alternates file), so what an agent commits
there is a handful of loose objects in the workspace's own store. Moving them into the
repository's store (each written under a temporary name and renamed, as git writes objects)
costs a few file operations where a fetch costs three processes; the workspace still sees them
through its alternates. A workspace whose objects were packed (a `git gc` by the agent) is
fetched from instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

LOOSE = "0123456789abcdef"


def move_loose_objects(workspace: Path, objects: Path) -> bool:
    """Move the loose objects of a workspace (or of a bare repository) into `objects`; False when
    it holds packs (fetch then)."""
    own = workspace / ".git" / "objects" if (workspace / ".git").is_dir() else workspace / "objects"
    if any((own / "pack").glob("*.pack")):
        return False
    for folder in own.iterdir():
        if len(folder.name) != 2 or not all(c in LOOSE for c in folder.name):
            continue
        target_folder = objects / folder.name
        for loose in folder.iterdir():
            target = target_folder / loose.name
            if not target.exists():
                target_folder.mkdir(exist_ok=True)
                _place(loose, target)
            loose.unlink()
    return True


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
