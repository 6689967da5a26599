"""Compiled code kept between the workflow sandbox's imports.

Temporal's sandbox imports a run's workflow modules afresh for every run (orchard_common/sandbox.py).
Each of those imports read the module's bytecode from __pycache__ and unmarshalled it again: 24
modules and a third of a simple run's start. A code object is immutable, so each module's code is
read once per process and every sandbox executes it in a module of its own, as before: what the
sandbox checks is unchanged. An edited file is read again (its size or modification time, to the
nanosecond, differs), which is stricter than Python's own bytecode check (to the second).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

CACHED_PACKAGES = ("workflows",)
"""Orchard's workflow code, which every run imports again (strategy files get the loader from their own finder)."""

_codes: dict[str, tuple[int, int, CodeType]] = {}
"""A source file's path: its modification time (ns), its size and its code."""


class CachingLoader(importlib.machinery.SourceFileLoader):
    """A source file's loader that compiles (or unmarshals) it once per process."""

    def get_code(self, fullname: str) -> CodeType:
        stat = os.stat(self.path)
        known = _codes.get(self.path)
        if known is not None and known[:2] == (stat.st_mtime_ns, stat.st_size):
            return known[2]
        # A file edited since this process read it is compiled from its source: its bytecode in
        # __pycache__ passes Python's check when the edit kept its size within the same second.
        code = super().get_code(fullname) if known is None else self.source_to_code(self.get_data(self.path), self.path)
        if code is None:  # only a sourceless file has none, and a SourceFileLoader always has a source
            raise ImportError(f"no code for {fullname}", name=fullname)
        _codes[self.path] = (stat.st_mtime_ns, stat.st_size, code)
        return code


class _CachingFinder(importlib.abc.MetaPathFinder):
    """Finds CACHED_PACKAGES' modules as Python would, with a CachingLoader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in CACHED_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = CachingLoader(spec.loader.name, spec.loader.path)
        return spec


_FINDER = _CachingFinder()


def keep_compiled_code() -> None:
    """Install the finder (once per process)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
