"""Workflow modules' code is read once per process (orchard_common/code_cache.py), and an edited
file's new code is what the next import runs."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchard_common import code_cache
from orchard_common.code_cache import CachingLoader, keep_compiled_code


@pytest.fixture
def package(tmp_path, monkeypatch) -> Iterator[Path]:
    folder = tmp_path / "cachedpkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(code_cache, "CACHED_PACKAGES", ("cachedpkg",))
    keep_compiled_code()
    yield folder
    for name in [n for n in sys.modules if n.partition(".")[0] == "cachedpkg"]:
        del sys.modules[name]


def _fresh(name: str):
    """The module imported again, as the workflow sandbox does for every run."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_a_module_imported_again_runs_the_same_code_in_a_module_of_its_own(package):
    (package / "mod.py").write_text("STATE = []\n")
    first = _fresh("cachedpkg.mod")
    assert isinstance(first.__loader__, CachingLoader)
    first.STATE.append("changed")
    second = _fresh("cachedpkg.mod")
    assert second is not first and second.STATE == []  # executed afresh
    assert first.__loader__.get_code("cachedpkg.mod") is second.__loader__.get_code("cachedpkg.mod")  # read once


def test_an_edited_module_is_read_again_even_within_the_same_second_and_size(package):
    source = package / "mod.py"
    source.write_text("VALUE = 1\n")
    assert _fresh("cachedpkg.mod").VALUE == 1
    before = source.stat()
    source.write_text("VALUE = 2\n")  # the same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # and a nanosecond later
    assert _fresh("cachedpkg.mod").VALUE == 2
