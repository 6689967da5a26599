"""The server a cold `orchard run`'s launcher starts after a restart (client/embedded/early_server.py):
only where it creates nothing, taken by the command that connects to it, stopped when the command
never takes it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from activities.procfs import observed, recorded_pid
from client.embedded import early_server
from tests.conftest import gone_within, write_dev_config


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home on free ports whose server does not run; a stand-in server (`sleep`), so that no Temporal starts."""
    home = tmp_path / "home"
    write_dev_config(home)
    monkeypatch.setenv("ORCHARD_HOME", str(home))
    monkeypatch.setattr(early_server, "server_command", lambda settings: ["sleep", "30"])
    yield home
    early_server.abandon()


def test_in_a_new_home_nothing_is_started_nor_created(home):
    assert early_server.start() is False  # no database yet: it is made once the command's input is checked
    assert early_server.take() is None
    assert sorted(p.name for p in home.iterdir()) == ["temporal-dev.yml"]


def test_after_a_restart_a_server_not_taken_is_stopped_and_its_record_removed(home):
    (home / "temporal.db").touch()
    assert early_server.start() is True
    pid = recorded_pid(home / "temporal.pid")
    assert pid is not None and observed(pid) is not None
    early_server.abandon()  # the command ended without connecting to it (bad input)
    assert gone_within(lambda: [pid] if observed(pid) else [], 5.0)
    assert not (home / "temporal.pid").exists()


def test_a_server_the_command_took_stays_up(home):
    (home / "temporal.db").touch()
    assert early_server.start() is True
    proc = early_server.take()
    assert proc is not None
    early_server.abandon()  # a no-op: it is the command's embedded server now
    assert proc.poll() is None and recorded_pid(home / "temporal.pid") == proc.pid
    proc.kill()
    proc.wait()


def test_nothing_is_started_where_something_else_listens(home):
    from client.embedded.dev_settings import load_dev_settings

    (home / "temporal.db").touch()
    host, port = load_dev_settings().address.rsplit(":", 1)
    with socket.socket() as other:
        other.bind((host, int(port)))
        other.listen(1)
        assert early_server.start() is False  # the command connects to what answers there, as before
    assert not (home / "temporal.pid").exists()
