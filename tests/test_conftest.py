"""The suite's own helpers: the `orchard` command the tests drive is this checkout's, whatever
(or nothing) PATH holds."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import DEMO_AGENT, orchard, orchard_argv, orchard_env


def path_without_orchard() -> str:
    """This process's PATH minus every folder holding an `orchard` (the venv's, a pyenv shim's)."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "orchard").exists()]
    path = os.pathsep.join(kept)
    assert shutil.which("orchard", path=path) is None and shutil.which("git", path=path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("installed", [True, False], ids=["console-script", "no-console-script"])
def test_the_orchard_helper_needs_no_orchard_on_path(repo, tmp_path, monkeypatch, installed):
    if installed:
        if not conftest.ORCHARD_SCRIPT.is_file():
            pytest.skip(f"no console script at {conftest.ORCHARD_SCRIPT} (the package is not installed)")
        assert orchard_argv("x") == [str(conftest.ORCHARD_SCRIPT), "x"]
    else:
        monkeypatch.setattr(conftest, "ORCHARD_SCRIPT", tmp_path / "not-installed" / "orchard")
        assert orchard_argv("x") == [sys.executable, "-m", "client.cli", "x"]
    home = tmp_path / "home"
    env = orchard_env(home, PATH=path_without_orchard())

    # One command each way (each costs a Python start): bad input, answered by the CLI itself.
    bad = orchard("run", "x", "--repo", "/", "--agent-command", DEMO_AGENT, env=env, cwd=repo)
    assert bad.returncode == 2 and "is not a git repository" in bad.stderr, bad.stderr
    assert not home.exists()
