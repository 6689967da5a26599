"""`orchard clean [RUN]`: what runs that are over left on this host (workspaces, agent homes,
containers) is removed; a running run's is not, and a run's results stay."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until


def queue_checkout(home: Path, name: str, user: str) -> Path:
    """A checkout a queue's commands ran in on a remote, last used by `user` a minute ago (activities/workspaces/checkout.py)."""
    checkout, users = home / "checkouts" / name, home / "checkouts" / f"{name}.users"
    checkout.mkdir(parents=True)
    users.mkdir()
    (users / user).touch()
    os.utime(users / user, (time.time() - 60, time.time() - 60))
    return checkout


def leftovers(home: Path, run_id: str) -> list[Path]:
    """What a run's worker leaves when it dies before its cleanup: a workspace, an agent home, results."""
    made = [home / "workspaces" / run_id / "k0000cafe", home / "agent-homes" / run_id, home / "runs" / run_id]
    for folder in made:
        folder.mkdir(parents=True)
        (folder / "file.txt").write_text("left")
    return made


async def test_clean_removes_what_ended_runs_left_and_keeps_a_running_run_s(
    orchard: Orchard, client, scripted_queue, orchard_home: Path, monkeypatch: pytest.MonkeyPatch
):
    # containers are cleaned in the slow docker tests; here the engine is away on every machine, and clean says so
    monkeypatch.setenv("DOCKER_HOST", f"unix://{orchard_home}/no-docker.sock")
    away = f"the Docker engine at unix://{orchard_home}/no-docker.sock is not reachable"
    not_checked = f"  (containers not checked: {away}"
    ended = await start_scripted(client, scripted_queue, "simple", Script())
    await final_result(ended)
    hold = asyncio.Event()
    running = await start_scripted(client, scripted_queue, "simple", script := Script(holds={"simple": hold}))
    await until(lambda: script.calls)
    workspace, agent_home, results = leftovers(orchard_home, ended.id)
    kept = leftovers(orchard_home, running.id)
    in_use, unused = queue_checkout(orchard_home, "00000000000000aa", running.id), queue_checkout(orchard_home, "00000000000000bb", ended.id)

    said = await orchard("clean", running.id)
    assert (said.code, said.out) == (2, "")
    assert said.err == f"orchard: run {running.id} is still running; cancel it first (orchard cancel {running.id})\n"
    said = await orchard("clean")
    assert said.code == 0, said.err
    assert said.lines[0] == "removed 0 container(s), 2 folder(s), 1 queue checkout(s)"
    assert sorted(said.lines[1:3]) == sorted(f"  {f}" for f in (workspace.parent, agent_home)) and said.lines[3] == f"  {unused}"
    assert said.lines[4].startswith(not_checked) and len(said.lines) == 5
    assert not workspace.parent.exists() and not agent_home.exists() and not unused.exists() and in_use.is_dir()  # the running run's checkout stays
    assert results.is_dir() and all(f.is_dir() for f in kept)  # a run's results are the user's; a running run's workspace is in use
    hold.set()
    await final_result(running)

    said = await orchard("clean", running.id)
    assert said.code == 0 and said.lines[0] == "removed 0 container(s), 2 folder(s)" and not kept[0].exists() and not kept[1].exists()
    assert said.lines[-1].startswith(not_checked)
    assert in_use.is_dir()  # a checkout is shared by the runs of a remote's branch: never one run's to remove
    said = await orchard("clean")
    assert said.code == 0 and said.lines[:2] == ["removed 0 container(s), 0 folder(s), 1 queue checkout(s)", f"  {in_use}"] and not in_use.exists()
    said = await orchard("clean")
    assert said.code == 0 and said.out.startswith(f"nothing to clean ({away}")


async def test_clean_of_a_run_temporal_forgot_removes_its_leftovers_and_of_no_run_says_so(orchard: Orchard, orchard_home: Path, named_server: str):
    workspace, _, _ = leftovers(orchard_home, "run_20200101_000000_abcdef")  # past the server's retention
    said = await orchard("clean", "run_20200101_000000_abcdef")
    assert said.code == 0 and said.lines[0] == "removed 0 container(s), 2 folder(s)" and not workspace.parent.exists(), said.err
    said = await orchard("clean", "run_20200101_000000_abcdef")  # now nothing of it is anywhere: a mistyped id
    assert (said.code, said.out) == (2, "") and said.err.count("\n") == 1
    assert said.err.startswith(f"orchard: no run 'run_20200101_000000_abcdef' on {named_server} (")
    assert said.err.endswith(", nor anything of it here; see `orchard list`\n")
