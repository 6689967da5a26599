"""A new worker clears what a worker that died on this host left running, and spares what a live
worker runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from activities.orphans import sweep_orphans
from activities.ownership import OwnedProcess, this_process
from activities.paths import running_record
from activities.runners.docker.relay import RELAY_PREFIX
from activities.runners.local import TAG_VARIABLE, RunningRecord, tagged_processes

DYING_WORKER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from activities.agents.base import AgentCommand
    from activities.paths import running_record
    from activities.runners.local import run_process

    # An agent whose tool left its session, as Claude Code's Bash tool does.
    agent = AgentCommand(argv=["bash", "-c", "setsid sleep 1000 & sleep 1000"])
    asyncio.run(run_process(agent, cwd=Path("."), timeout=600, on_line=print, transcript=Path(sys.argv[1]),
                            record_path=running_record("run", "k-dead")))
""")


async def test_a_new_worker_stops_what_a_dead_worker_left_running_and_spares_a_live_ones(orchard_home, tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", DYING_WORKER, str(tmp_path / "transcript.log")], env=os.environ.copy())
    live_tag = uuid.uuid4().hex
    live_agent = subprocess.Popen(["setsid", "sleep", "1000"], env={**os.environ, TAG_VARIABLE: live_tag})
    try:
        dead_record = running_record("run", "k-dead")
        deadline = time.monotonic() + 20
        while len(orphans := _tagged_in(dead_record)) < 3:  # bash, its sleep and the one that left
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        time.sleep(0.2)
        assert all(OwnedProcess.of(pid) for pid in orphans)  # orphaned, working on (parent: init)
        running_record("run", "k-live").write_text(RunningRecord(pgid=live_agent.pid, tag=live_tag, worker=this_process()).model_dump_json())

        assert await sweep_orphans(None) == 1
        deadline = time.monotonic() + 5
        while any(OwnedProcess.of(pid) for pid in orphans):
            assert time.monotonic() < deadline, "the dead worker's agent is still running"
            time.sleep(0.05)
        assert not dead_record.exists()
        assert live_agent.poll() is None and running_record("run", "k-live").exists()  # a live worker's agent is its own
    finally:
        worker.kill()
        live_agent.kill()
        live_agent.wait()


def _tagged_in(record) -> list[int]:
    try:
        return tagged_processes(RunningRecord.model_validate_json(record.read_text()).tag)
    except (OSError, ValueError):
        return []


async def test_a_dead_workers_model_relay_folder_is_removed_and_a_record_names_no_other_folder_for_removal(orchard_home, tmp_path):
    """The docker runner's relay folder in /tmp outlives a worker killed with -9 (its `finally` never
    runs): the next worker's sweep removes it with the container. A record is a file: one that names
    any other folder as its relay removes nothing."""
    dead = this_process().model_copy(update={"start_ticks": 0})  # this pid, another start: a worker gone
    relay = Path(tempfile.mkdtemp(prefix=RELAY_PREFIX))
    (relay / "relay.js").write_text("// the relay\n")
    elsewhere = tmp_path / f"{RELAY_PREFIX}not-in-tmp"
    elsewhere.mkdir()
    unrelated = Path(tempfile.mkdtemp(prefix="someone-elses-"))
    running_record("run", "k").parent.mkdir(parents=True)
    try:
        for key, folder in (("k-relay", relay), ("k-elsewhere", elsewhere), ("k-unrelated", unrelated)):
            running_record("run", key).write_text(RunningRecord(worker=dead, relay=str(folder)).model_dump_json())

        assert await sweep_orphans(None) == 3
        assert not relay.exists()
        assert elsewhere.is_dir() and unrelated.is_dir()
        assert not list(running_record("run", "k-relay").parent.glob("*.json"))
    finally:
        shutil.rmtree(relay, ignore_errors=True)
        shutil.rmtree(unrelated, ignore_errors=True)
