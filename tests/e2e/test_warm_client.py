"""The warm client: from the second command on the embedded server, later `orchard` commands are
run by a child of the warm client (client/warm.py), with the caller's stdin, stdout, stderr,
working directory, environment and arguments, its exit code, and Ctrl-C relayed."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import orchard, orchard_argv, pid_in

pytestmark = pytest.mark.slow


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_later_commands_run_in_the_warm_client_as_they_would_here(embedded, repo):
    home, env, _, _ = embedded
    first = orchard("run", "warm up", "--agent-command", "true", "--output", "quiet", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    assert not (home / "warm").exists()  # one command starts no warm client
    second = orchard("list", env=env, cwd=repo)  # the second, with the server up already, starts it
    assert second.returncode == 0, second.stderr
    deadline = time.monotonic() + 30
    while not (home / "warm" / "client.sock").exists():
        assert time.monotonic() < deadline, (home / "logs" / "warm-client.log").read_text()
        time.sleep(0.1)
    warm = pid_in(home / "warm" / "client.pid")
    assert (home / "warm" / "client.sock").stat().st_mode & 0o777 == 0o600  # only this user hands it commands
    assert Path(f"/proc/{warm}/status").read_text().count("Threads:\t1\n") == 1  # no thread: forking it is safe

    # stdin, the environment and the working directory are the caller's; the exit code comes back
    agent = 'echo "prompt=$ORCHARD_PROMPT greeting=$GREETING"'
    ran = subprocess.run(orchard_argv("run", "-", "--agent-command", agent, "--env", "GREETING", "--import-policy", "never", "--output", "json"),
                         input="from stdin", env={**env, "GREETING": "hello from the shell"}, cwd=repo, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    (only,) = json.loads(ran.stdout.strip().splitlines()[-1])["instances"]
    assert only["final_message"] == "prompt=from stdin greeting=hello from the shell"

    bad = orchard("run", "x", "--agent-command", "true", "--base-branch", "nope", env=env, cwd=repo)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "base branch 'nope' does not exist" in bad.stderr

    # the command is the warm client's child, and Ctrl-C reaches it: it detaches from the run
    following = subprocess.Popen(orchard_argv("run", "a while", "--agent-command", "sleep 30", "--output", "streaming"),
                                 env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert following.stdout is not None
    assert following.stdout.readline().startswith("simple run run_")  # the run has started, and is followed
    assert len(children_of(warm)) == 1  # by the warm client's child
    time.sleep(0.5)
    following.send_signal(signal.SIGINT)
    out, err = following.communicate(timeout=30)
    assert following.returncode == 130 and "detached; run" in err, err
    run_id = err.split("detached; run ")[1].split()[0]
    assert orchard("cancel", run_id, env=env, cwd=repo).returncode == 0

    # a caller killed outright relays nothing: the warm client sees it gone and interrupts its command
    abandoned = subprocess.Popen(orchard_argv("run", "abandoned", "--agent-command", "sleep 30", "--output", "streaming"),
                                 env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert abandoned.stdout is not None
    header = abandoned.stdout.readline()
    assert header.startswith("simple run run_") and len(children_of(warm)) == 1
    abandoned.kill()
    abandoned.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while children_of(warm):
        assert time.monotonic() < deadline, "the abandoned command went on"
        time.sleep(0.1)
    assert orchard("cancel", header.split()[2], env=env, cwd=repo).returncode == 0

    stopped = orchard("server", "stop", env=env, cwd=repo)
    assert "warm client" in stopped.stdout and not (home / "warm" / "client.sock").exists()
