"""The warm client: from the second command on the embedded server, later `orchard` commands are
run by a child of the warm client (client/warm.py), with the caller's stdin, stdout, stderr,
working directory, environment and arguments, its exit code, and Ctrl-C relayed."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from client.cli import build_parser
from tests.conftest import DEMO_AGENT, make_repo, orchard, orchard_argv, orchard_env, pid_in, stop_embedded, write_dev_config

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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """An embedded server with one finished run, and its warm client serving this code."""
    from orchard_common.code import code_digest

    base = tmp_path_factory.mktemp("paths")
    home, repo = base / "home", make_repo(base / "repo")
    write_dev_config(home)
    env = orchard_env(home)
    first = orchard("run", "warm up", "--agent-command", "true", "--output", "quiet", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    assert orchard("list", env=env, cwd=repo).returncode == 0  # the second command starts the warm client
    deadline = time.monotonic() + 30
    code = home / "warm" / "code"  # written once its socket listens: each `orchard` below is handed over
    while not (code.exists() and code.read_text() == code_digest() and (home / "warm" / "client.sock").exists()):
        assert time.monotonic() < deadline, (home / "logs" / "warm-client.log").read_text()
        time.sleep(0.1)
    yield env, repo, first.stdout.split()[0]
    stop_embedded(home)


RUN_ID = re.compile(r"run_\d{8}_\d{6}_[0-9a-f]{6}")
PATHS = {"cold": lambda *args: [sys.executable, "-m", "client.cli", *args], "warm": orchard_argv}
"""A command in its own process, and the `orchard` launcher handing it to the warm client."""


def _ran(argv: list[str], env: dict[str, str], cwd: Path, stdout: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a command whose stdout is captured, a pipe already closed
    (every write is EPIPE), or `| head -1`."""
    if stdout == "head":
        script = '"$@" | head -1; echo "exit ${PIPESTATUS[0]}" >&2'
        done = subprocess.run(["bash", "-c", script, "orchard", *argv], check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
        err, _, code = done.stderr.rpartition("exit ")
        return int(code), done.stdout, err
    if stdout == "closed":
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run(argv, check=False, env=env, cwd=cwd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write)
        return done.returncode, "", done.stderr
    done = subprocess.run(argv, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args, stdout, code, said", [
    pytest.param(["--help"], "captured", 0, "usage: orchard", id="help"),
    pytest.param(["run", "--help"], "captured", 0, "--strategy STRATEGY", id="run-help"),
    pytest.param(["runn"], "captured", 2, "orchard: argument command: invalid choice: 'runn'", id="unknown-command"),
    pytest.param(["run", "x", "--max-parallel", "x"], "captured", 2, "invalid int value: 'x'", id="usage-error"),
    pytest.param(["run", "x", "--agent-command", "true", "--base-branch", "nope"], "captured", 2, "base branch 'nope' does not exist", id="bad-input"),
    pytest.param(["show", "run_nope"], "captured", 2, "no run 'run_nope'", id="no-run"),
    pytest.param(["clean", "run_nope"], "captured", 2, "orchard: no run 'run_nope'", id="clean-no-run"),
    pytest.param(["run", "x", "--strategy", "best-of-m"], "captured", 2, "unknown strategy 'best-of-m' (did you mean 'best-of-n'?)", id="strategy-typo"),
    pytest.param(["show", "{run}"], "captured", 0, "strategy simple", id="show"),
    pytest.param(["show", "{run}"], "head", 0, "strategy simple", id="show-head-1"),
    pytest.param(["show", "{run}"], "closed", 0, "", id="show-closed-pipe"),
    pytest.param(["history", "{run}"], "closed", 0, "", id="history-closed-pipe"),
    pytest.param(["--help"], "closed", 0, "", id="help-closed-pipe"),
    pytest.param(["list"], "captured", 0, "{run}", id="list"),
    pytest.param(["run", "x", "--agent-command", DEMO_AGENT, "--output", "quiet"], "captured", 0, " success orchard/simple/", id="run"),
    pytest.param(["run", "x", "--agent-command", "exit 3", "--output", "quiet"], "captured", 1, " failed", id="run-failed"),
])
def test_a_command_ends_the_same_in_its_own_process_and_in_the_warm_client(served, args, stdout, code, said):
    """Output, exit code, a closed pipe and flushing: what the command does in its own process, it
    does handed to the warm client (--help and usage errors, tracebacks there before)."""
    env, repo, run_id = served
    args = [a.replace("{run}", run_id) for a in args]
    ended = {path: _ran(argv(*args), env, repo, stdout) for path, argv in PATHS.items()}
    for path, (exit_code, out, err) in ended.items():
        assert exit_code == code, (path, out, err)
        assert "Traceback" not in err and (code == 2) == err.startswith("orchard: ") and err.count("\n") == (code == 2), (path, err)
        assert said.replace("{run}", run_id) in out + err, (path, out, err)
    cold, warm = ([RUN_ID.sub("RUN", text) for text in ended[path][1:]] for path in PATHS)
    assert cold == warm


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand the parser has (`loop stop`, `runbook worker start`, ...)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(*words, name), *_commands(sub, (*words, name))]
    return found


def test_every_command_s_help_and_usage_error_end_the_same_in_its_own_process_and_in_the_warm_client(served):
    """Each command the parser has, not a sample: its --help (exit 0, all of it flushed) and an
    option it does not have (one line, exit 2), both ways alike."""
    env, repo, _ = served
    cases = [(*words, flag) for words in _commands(build_parser()) for flag in ("--help", "--no-such-option")]
    assert len(cases) >= 50

    def both(args: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, tuple[int, str, str]]]:
        return args, {path: _ran(argv(*args), env, repo, "captured") for path, argv in PATHS.items()}

    with ThreadPoolExecutor(4) as pool:
        for args, ended in pool.map(both, cases):
            for path, (exit_code, out, err) in ended.items():
                if args[-1] == "--help":
                    assert (exit_code, err) == (0, "") and out.startswith("usage: orchard ") and out.endswith("\n"), (path, args, err)
                else:
                    assert (exit_code, out) == (2, "") and err.startswith("orchard: ") and err.count("\n") == 1, (path, args, err)
            assert ended["cold"] == ended["warm"], args


def test_clean_of_a_run_temporal_forgot_removes_what_it_left_and_of_no_run_says_so(served):
    env, repo, _ = served
    left = Path(env["ORCHARD_HOME"]) / "workspaces" / "run_20200101_000000_abcdef" / "k12345678"
    left.mkdir(parents=True)
    cleaned = orchard("clean", "run_20200101_000000_abcdef", env=env, cwd=repo)  # past the server's retention: its leftovers can go
    assert cleaned.returncode == 0 and "1 folder(s)" in cleaned.stdout and not left.parent.exists(), cleaned.stderr
    again = orchard("clean", "run_20200101_000000_abcdef", env=env, cwd=repo)  # now nothing of it is anywhere: a mistyped id
    assert again.returncode == 2 and again.stdout == "" and again.stderr.startswith("orchard: no run 'run_20200101_000000_abcdef' on "), again.stderr


def test_list_says_what_its_columns_are(served):
    env, repo, run_id = served
    listed = orchard("list", "--status", "success", env=env, cwd=repo).stdout.splitlines()
    assert listed[0].split() == ["run", "strategy", "status", "started", "repo"]
    assert any(line.split()[:3] == [run_id, "simple", "success"] and line.split()[4] == str(repo) for line in listed[1:])
