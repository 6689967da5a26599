"""What was written in an overlay workspace since it was made: its upper layer, read as git needs it.

Everything else in the workspace is its base's, which the workspace's index matched when it was
made, so git need look at these paths only. Two users: Orchard's own git after an agent
(overlay.written_paths, a pathspec), and the agent's own git in a workspace of a large base, to
which this file is git's fsmonitor hook (protocol version 2), so that its `git status` and `git
add -A` look at what the agent wrote instead of every file of the tree through the overlay:

    core.fsmonitor = 'PYTHON' -I -S '.../activities/git/written.py'

Git runs it in the work tree's root, which is the workspace; its layers are beside it. It imports
nothing but the standard library, so it starts in a few milliseconds with `-I -S`.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator

REPLACED_DIR_XATTRS = ("trusted.overlay.opaque", "trusted.overlay.redirect")
"""A folder in the upper layer that hides the base's (made anew) or shows another of its folders (renamed)."""


def layers_of(workspace: str) -> str:
    """Where a workspace's upper and work directories live: beside it, never inside the merged view."""
    parent, name = os.path.split(os.path.normpath(workspace))
    return os.path.join(parent, f".{name}.layers")


def written(upper: str, lower: str) -> Iterator[tuple[str, bool]]:
    """(path, whole folder) for each path written in the upper layer over the tree `lower`, its
    .git aside: files, symlinks, the whiteouts of deleted paths (which may have been folders), and
    folders that replace the base's (opaque), show another of its folders (renamed) or are not in
    the base at all, named whole and not walked. Any other folder is there because something in it
    was written, and is not named: git takes a folder's name for everything in it."""
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(upper, rel)) as entries:
            for entry in entries:
                path = os.path.join(rel, entry.name)
                if path == ".git":
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    yield path, stat.S_ISCHR(entry.stat(follow_symlinks=False).st_mode)
                elif _replaced(entry.path) or not os.path.isdir(os.path.join(lower, path)):
                    yield path, True
                else:
                    stack.append(path)


def _replaced(folder: str) -> bool:
    for name in REPLACED_DIR_XATTRS:
        try:
            os.getxattr(folder, name, follow_symlinks=False)
            return True
        except OSError:
            pass
    return False


EVERYTHING = "/"
"""The hook's answer when it cannot tell: git looks at every file."""


def fsmonitor_answer(workspace: str) -> list[str]:
    """The hook's answer after its token: every path written since the workspace was made (a
    superset of what changed since any token git holds; folders as prefixes too), or EVERYTHING
    when `workspace` is no overlay workspace (a worktree the agent added elsewhere)."""
    layers = layers_of(workspace)
    try:
        with open(os.path.join(layers, "base")) as base:
            lower = os.path.join(base.read().strip(), "tree")
        paths: list[str] = []
        for path, whole in written(os.path.join(layers, "upper"), lower):
            paths.append(path)
            if whole:
                paths.append(path + "/")
        return paths
    except OSError:
        return [EVERYTHING]


def main(argv: list[str]) -> int:
    if argv[1:2] != ["2"]:  # only version 2 is spoken; git then looks at every file
        return 1
    answer = fsmonitor_answer(os.getcwd())
    out = sys.stdout.buffer
    out.write(b"orchard\0")  # the token git keeps and hands back; every answer is a superset of any change since
    out.write(b"".join(os.fsencode(path) + b"\0" for path in answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
