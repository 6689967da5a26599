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
