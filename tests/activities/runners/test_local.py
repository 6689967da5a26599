"""The local runner's orphan cleanup (a retry after a dead worker) signals only the agent's own
processes, proven by the tag in their environment, never a pid a file merely names."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from activities.runners.local import TAG_VARIABLE, kill_orphan


def test_an_orphaned_agent_is_killed_and_a_stranger_with_its_pid_is_not(tmp_path):
    tag = uuid.uuid4().hex
    orphan = subprocess.Popen(["setsid", "sleep", "1000"], env={**os.environ, TAG_VARIABLE: tag})
    stranger = subprocess.Popen(["setsid", "sleep", "1000"])
    try:
        pid_file = tmp_path / "agent.pid"
        pid_file.write_text(f"{stranger.pid} {uuid.uuid4().hex}")  # a pid reused since: not our tag
        kill_orphan(pid_file)
        assert stranger.poll() is None and not pid_file.exists()
        pid_file.write_text(f"{orphan.pid} {tag}")
        kill_orphan(pid_file)
        deadline = time.monotonic() + 5
        while orphan.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert orphan.poll() is not None and stranger.poll() is None
    finally:
        for proc in (orphan, stranger):
            proc.kill()
            proc.wait()
