"""The local runner's orphan cleanup (a retry after a worker died) signals only the agent's own
processes, proven by the tag in their environment, never a pid a file merely names."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from activities.ownership import this_process
from activities.paths import running_record
from activities.runners.leftovers import kill_orphan
from activities.runners.local import TAG_VARIABLE, RunningRecord


def _gone(proc: subprocess.Popen, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.poll() is not None


async def test_an_orphaned_agent_is_killed_and_a_stranger_with_its_pid_is_not(orchard_home):
    tag = uuid.uuid4().hex
    orphan = subprocess.Popen(["setsid", "sleep", "1000"], env={**os.environ, TAG_VARIABLE: tag})
    stranger = subprocess.Popen(["setsid", "sleep", "1000"])
    try:
        record = running_record("run", "k1")
        record.parent.mkdir(parents=True)
        reused = RunningRecord(pgid=stranger.pid, tag=uuid.uuid4().hex, worker=this_process())  # a pid reused since: not our tag
        record.write_text(reused.model_dump_json())
        await kill_orphan(record)
        assert stranger.poll() is None and not record.exists()
        record.write_text(RunningRecord(pgid=orphan.pid, tag=tag, worker=this_process()).model_dump_json())
        await kill_orphan(record)
        assert _gone(orphan) and stranger.poll() is None
    finally:
        for proc in (orphan, stranger):
            proc.kill()
            proc.wait()


def test_the_pids_an_agents_leftovers_can_have_are_those_handed_out_after_its_own(monkeypatch):
    """born_after: the pids after the agent's up to the last one handed out (going round once at
    pid_max), or every pid once so long has passed that they may have gone round past the agent's."""
    from pathlib import Path

    from activities.runners import local

    kernel = {"/proc/sys/kernel/ns_last_pid": "5000\n", "/proc/sys/kernel/pid_max": "32768\n"}
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: kernel[str(self)])
    after_1000 = local.born_after(1000, 0.05)
    assert [after_1000(p) for p in (999, 1000, 1001, 5000, 5001, 30000)] == [False, False, True, True, False, False]
    kernel["/proc/sys/kernel/ns_last_pid"] = "400\n"  # gone round since pid 30000
    after_30000 = local.born_after(30000, 0.05)
    assert [after_30000(p) for p in (350, 400, 401, 29999, 30001)] == [True, True, False, False, True]
    assert all(map(local.born_after(1000, 60), (1, 999, 1000, 5000)))  # 60 s: pids may have gone round
    del kernel["/proc/sys/kernel/ns_last_pid"]
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (_ for _ in ()).throw(OSError(2, "gone")))
    assert all(map(local.born_after(1000, 0.05), (1, 999, 5000)))  # nothing readable: every pid


def test_a_tagged_process_started_after_the_agent_is_found_and_an_older_one_is_not_looked_at():
    """left_running with born_after: a leftover started after the agent (here: after `agent`) is found
    by its tag; one started before it is never looked at."""
    from activities.runners.local import born_after, left_running

    tag = uuid.uuid4().hex
    older = subprocess.Popen(["sleep", "1000"], env={**os.environ, TAG_VARIABLE: tag})  # tagged, but older than the agent
    agent = subprocess.Popen(["true"])
    agent.wait()
    leftover = subprocess.Popen(["sleep", "1000"], env={**os.environ, TAG_VARIABLE: tag})
    try:
        assert set(left_running(tag, set())) >= {older.pid, leftover.pid}
        found = left_running(tag, set(), born_after(agent.pid, 0.1))
        assert leftover.pid in found and older.pid not in found
    finally:
        for proc in (older, leftover):
            proc.kill()
            proc.wait()
