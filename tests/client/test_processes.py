"""Orchard signals only processes it can prove are its own: a pid file whose pid now belongs to
another process (after a reboot, or a reused pid) is ignored, and that process lives on."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def test_server_stop_leaves_a_process_alone_whose_pid_a_file_merely_names(tmp_path, monkeypatch, capsys):
    from client.commands.server import cmd_server

    home = tmp_path / "home"
    monkeypatch.setenv("ORCHARD_HOME", str(home))
    (home / "workers").mkdir(parents=True)
    stranger = subprocess.Popen(["setsid", "sleep", "10000"])
    try:
        # What an older Orchard wrote (a bare pid), and a record of another process that had this pid.
        (home / "temporal.pid").write_text(str(stranger.pid))
        record = {"pid": stranger.pid, "boot_id": "x", "start_ticks": 1, "argv": ["python", "-m", "worker"]}
        (home / "workers" / "orchard.pid").write_text(json.dumps(record))
        assert cmd_server(argparse.Namespace(action="stop")) == 0  # `orchard server stop`
        assert capsys.readouterr().out.startswith("nothing of Orchard's is running")
        assert stranger.poll() is None  # still running: it was never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_a_process_orchard_started_is_recognised_and_stopped(tmp_path, monkeypatch):
    from activities.procfs import recorded_pid
    from client.embedded.processes import spawn, stop

    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "home"))
    pid_file, log = tmp_path / "sleeper.pid", tmp_path / "sleeper.log"
    proc = spawn([sys.executable, "-c", "import time; time.sleep(600)"], log, pid_file)
    assert recorded_pid(pid_file) == proc.pid
    assert stop(pid_file, timeout=5) is True
    assert proc.wait(10) is not None and not pid_file.exists()
    assert stop(pid_file, timeout=1) is False
