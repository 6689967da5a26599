"""`orchard server [start|stop|status]` on the dev server that $ORCHARD_HOME/temporal-dev.yml
describes: its status, a start refused when its address is taken, a stop with nothing to stop.
A server started in the foreground and used by runs is the end-to-end tests'."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard
from tests.conftest import write_dev_config


@pytest.fixture
def dev_config(orchard_home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """An embedded server's config on free ports (nothing answers there): its address and UI port.
    A start that is not refused would exec the server in place of the tests: it fails instead."""
    def no_exec(*argv: object) -> None:
        raise AssertionError(f"orchard server started a server in the tests' process: {argv}")

    monkeypatch.setattr(os, "execv", no_exec)
    port, ui_port = write_dev_config(orchard_home)
    return f"127.0.0.1:{port}", ui_port


def serve_at(home: Path, address: str) -> None:
    config = home / "temporal-dev.yml"
    config.write_text("\n".join(f"address: {address}" if line.startswith("address:") else line for line in config.read_text().splitlines()))


async def test_status_says_whether_the_server_answers(orchard: Orchard, dev_config: tuple[str, int], orchard_home: Path, named_server: str):
    address, ui_port = dev_config
    said = await orchard("server", "status", address=False)
    assert (said.code, said.out, said.err) == (1, f"Temporal at {address} is not running\n", "")
    serve_at(orchard_home, named_server)
    said = await orchard("server", "status", address=False)
    assert (said.code, said.out, said.err) == (0, f"Temporal at {named_server} is up; UI http://127.0.0.1:{ui_port}\n", "")


async def test_start_is_refused_where_a_server_or_another_program_has_the_address(orchard: Orchard, dev_config: tuple[str, int], orchard_home: Path,
                                                                                named_server: str):
    address, _ = dev_config
    with socket.socket() as taken:  # a program that is not Temporal has the port (bound, not answering)
        host, port = address.rsplit(":", 1)
        taken.bind((host, int(port)))
        said = await orchard("server", address=False)
    assert (said.code, said.out) == (2, "")
    assert said.err == (f"orchard: {address} is taken by a program that is not Temporal; set another address in {orchard_home / 'temporal-dev.yml'} "
                        "(copy it to $ORCHARD_HOME/temporal-dev.yml to change it)\n")
    serve_at(orchard_home, named_server)
    said = await orchard("server", "start", address=False)
    assert (said.code, said.out, said.err) == (2, "", f"orchard: a Temporal server already answers on {named_server}; use it as it is, or stop it first\n")


async def test_stop_with_nothing_running_says_so(orchard: Orchard, dev_config: tuple[str, int], orchard_home: Path):
    said = await orchard("server", "stop", address=False)
    assert (said.code, said.out, said.err) == (0, f"nothing of Orchard's is running (state in {orchard_home})\n", "")


async def test_stop_lists_the_spare_worker_it_stops_as_the_warm_client(orchard: Orchard, orchard_home: Path):
    """Each process it stops, one name each: here a warm client and the spare worker beside it (stand-ins that sleep)."""
    from client.embedded.processes import spawn, state_dir

    procs = [spawn(["sleep", "30"], state_dir("logs") / f"{name}.log", state_dir("warm") / f"{name}.pid") for name in ("client", "spare")]
    said = await orchard("server", "stop", address=False)
    assert (said.code, said.out, said.err) == (0, "stopped: warm client, spare worker\n", "")
    assert [proc.wait(timeout=5) for proc in procs] == [-15, -15]  # SIGTERM, each
    assert not list((orchard_home / "warm").glob("*.pid"))
    said = await orchard("server", "stop", address=False)
    assert said.out == f"nothing of Orchard's is running (state in {orchard_home})\n"
