"""The checkouts a queue's commands run in on a remote ($ORCHARD_HOME/checkouts/): each use is
recorded, and a sweep (`orchard clean`) removes only those no open run uses (real git)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from activities.workspaces.checkout import checkouts_dir, commands_root, sweep_checkouts
from tests.conftest import git, make_repo


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bare remote with the branches main and dev, and this host's ORCHARD_HOME."""
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "host"))
    source = make_repo(tmp_path / "source", {"bugs.json": "[]"})
    git(source, "branch", "dev")
    git(tmp_path, "clone", "-q", "--bare", str(source), str(tmp_path / "remote.git"))
    return (tmp_path / "remote.git").as_uri()


def _aged(checkout: Path, seconds: float) -> None:
    """Its users' records as if written `seconds` ago."""
    for user in checkout.with_name(checkout.name + ".users").iterdir():
        then = time.time() - seconds
        os.utime(user, (then, then))


async def test_a_sweep_removes_the_checkouts_no_open_run_uses_and_keeps_those_in_use(remote: str) -> None:
    main = await commands_root(remote, "main", "cron_x_20261206T220000Z")  # a cron's run: one of its own each time
    assert await commands_root(remote, "main", "worker_a") == main
    dev = await commands_root(remote, "dev", "worker_b")
    assert (main / "bugs.json").is_file() and main.parent == dev.parent == checkouts_dir() and main != dev
    for checkout in (main, dev):
        _aged(checkout, 60)
    listed_at = time.time()
    assert await sweep_checkouts({"worker_a"}, listed_at) == [dev]  # worker_a is open: main is in use
    assert main.is_dir() and not dev.exists() and not dev.with_name(dev.name + ".users").exists()
    assert [u.name for u in main.with_name(main.name + ".users").iterdir()] == ["worker_a"]  # a run that is over is forgotten

    assert await commands_root(remote, "dev", "worker_c") == dev  # made again by the next use
    assert await sweep_checkouts(set(), listed_at) == [main]  # worker_c began using dev just now: in use, open or not yet listed
    assert dev.is_dir() and not main.exists()
    _aged(dev, 60)
    assert await sweep_checkouts(set(), time.time()) == [dev]
    assert sorted(checkouts_dir().iterdir()) == sorted(c.with_suffix(".lock") for c in (main, dev))  # the locks stay: a use may wait on one


async def test_a_checkout_with_no_record_of_its_users_is_kept_while_any_run_is_open(remote: str) -> None:
    unknown = checkouts_dir() / "0123456789abcdef"  # an older Orchard's: who uses it is not known
    unknown.mkdir(parents=True)
    (unknown / "file").write_text("x")
    assert await sweep_checkouts({"run_elsewhere"}, time.time()) == []
    assert await sweep_checkouts(set(), time.time()) == [unknown] and not unknown.exists()


async def test_a_local_repository_is_its_own_root_and_nothing_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "host"))
    assert await commands_root(str(tmp_path / "repo"), "main", "worker_a") == tmp_path / "repo"
    assert not checkouts_dir().exists() and await sweep_checkouts(set(), time.time()) == []
