"""`orchard COMMAND ...` run in this process, as tests/client/runbooks/test_cli.py runs the runbook
CLI: `client.cli.main`, its exit code and what it printed, against the session's dev server (a
named server: `--address`) and its scripted worker (tests/scripted.py), in a repository of the
test's own. The paths that need real processes (the embedded server, background workers, a
killed worker, Ctrl-C) are the end-to-end tests' (tests/e2e/)."""

from __future__ import annotations

import asyncio
import io
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from client.cli import main
from tests.scripted import SCRIPTS, Script, until


@dataclass
class Said:
    """How a command ended: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Orchard:
    """`await orchard("show", RUN)`: the command as a user runs it in `repo`, against the session's
    server (`--address` is added unless `address=False`), with an ORCHARD_HOME of its own. It runs
    in a thread with an event loop of its own, as in a process of its own, while the session's
    scripted worker goes on serving in this one; a test may read what it printed so far (`printed`)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.out, self.err = io.StringIO(), io.StringIO()
        self._running = 0
        self._streams = (sys.stdout, sys.stderr)

    async def __call__(self, *argv: str, address: bool = True) -> Said:
        out, err = len(self.out.getvalue()), len(self.err.getvalue())
        if not self._running:  # pytest's own capture is set again for each phase of a test: this one, while commands run
            self._streams = (sys.stdout, sys.stderr)
            sys.stdout, sys.stderr = self.out, self.err
        self._running += 1
        try:
            code = await asyncio.to_thread(main, [*argv, *(["--address", self.address] if address else [])])
        finally:
            self._running -= 1
            if not self._running:
                sys.stdout, sys.stderr = self._streams
        return Said(code, self.out.getvalue()[out:], self.err.getvalue()[err:])

    def printed(self) -> str:
        """What the commands printed so far, stdout and stderr."""
        return self.out.getvalue() + self.err.getvalue()


@pytest.fixture
def orchard(named_server: str, orchard_home: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> Orchard:
    monkeypatch.chdir(repo)
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return Orchard(named_server)


class ScriptedRuns:
    """The runs `orchard run` starts (on the scripted worker: `--task-queue`): each gets the next
    of `scripts` (else an empty Script), under an id the test learns from `started`."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.started: list[str] = []

    def new_run_id(self) -> str:
        run_id = f"run_cli_{uuid.uuid4().hex[:8]}"
        SCRIPTS[run_id] = self.scripts.pop(0) if self.scripts else Script()
        self.started.append(run_id)
        return run_id

    def script(self, n: int = 0) -> Script:
        return SCRIPTS[self.started[n]]

    async def first_started(self, client: Client, command: asyncio.Task[Said]) -> str:
        """The id of the first run, once the server has it, while `command` (that starts it) goes on.
        Loading a strategy file and checking it in the sandbox takes seconds on a loaded machine."""
        async def known() -> str | None:
            if command.done():
                raise AssertionError(f"the command ended before its run started: {command.result()}")
            if not self.started:
                return None
            try:
                await client.get_workflow_handle(self.started[0]).describe()
            except RPCError:
                return None
            return self.started[0]

        return await until(known, timeout=60)


@pytest.fixture
def scripted_runs(monkeypatch: pytest.MonkeyPatch) -> ScriptedRuns:
    runs = ScriptedRuns()
    monkeypatch.setattr("client.runs.new_run_id", runs.new_run_id)
    return runs


def unique_repo() -> str:
    """A repository path no other test's runs name, for what `orchard list` finds by repository."""
    return f"/scripted/{uuid.uuid4().hex[:8]}"
