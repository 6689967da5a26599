"""`[safety]`: the paths and refs a runbook never touches, and the checks that keep them untouched.

A protected entry names a path (relative to the repository's root) and a ref alike: `.git`
protects the folder .git and everything in it, `main` the branch main (and a folder main); `.`
protects the root itself only (everything is in it). A ref may be a pattern (`release/*`).
Pure string work, importable in workflows: a monitor's items are checked in the cron's workflow
before anything acts on them, a pipeline's publishing in its workflow, and the validator refuses
a pipeline that would publish one.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from typing import Any, Protocol


class Protected(Protocol):
    """What these checks read of model.py's Safety."""

    @property
    def protected(self) -> list[str]: ...


REF_PREFIXES = ("refs/heads/", "refs/remotes/origin/", "origin/", "heads/")


def _as_path(value: str, root: str) -> str:
    """`value` as a path relative to the repository's root (`.` for the root itself)."""
    path = posixpath.normpath(value)
    if path.startswith("/") and root:
        normal_root = posixpath.normpath(root)
        if path == normal_root:
            return "."
        if path.startswith(normal_root + "/"):
            return path[len(normal_root) + 1:]
    return path


def _names_ref(value: str, entry: str) -> bool:
    names = {value, *(value[len(p):] for p in REF_PREFIXES if value.startswith(p))}
    return any(fnmatch.fnmatchcase(name, entry) for name in names)


def _names_path(value: str, entry: str, root: str) -> bool:
    path, guarded = _as_path(value, root), posixpath.normpath(entry)
    if guarded == ".":
        return path == "."
    return path == guarded or path.startswith(guarded + "/")


def protecting(safety: Protected, value: str, root: str = "") -> str | None:
    """The protected entry that `value` (a path or a ref) names, or None."""
    if not value.strip():
        return None
    for entry in safety.protected:
        if _names_ref(value, entry) or _names_path(value, entry, root):
            return entry
    return None


def _strings(item: Any) -> Iterator[str]:
    if isinstance(item, str):
        yield item
    elif isinstance(item, dict):
        for value in item.values():
            if isinstance(value, str):
                yield value


def item_protection(safety: Protected, item: Any, root: str) -> tuple[str, str] | None:
    """(the value, the protected entry it names) for the first of an item's text values (the item
    itself, or its fields) that names a protected path or ref; None when it names none."""
    for value in _strings(item):
        entry = protecting(safety, value, root)
        if entry is not None:
            return value, entry
    return None
