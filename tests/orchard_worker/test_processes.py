"""`python worker.py --processes N`: N processes poll the same task queues, each with its share of
--max-activities; they stop together, and only the first process's own children are signalled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from orchard_worker.main import main, parse_args, parser, processes_of
from orchard_worker.processes import shares, sibling_argv
from tests.conftest import ROOT, orchard_env, run_strategy


def test_the_activities_are_shared_out_evenly_and_each_process_gets_one_at_least():
    assert shares(200, 1) == [200]
    assert shares(200, 2) == [100, 100]
    assert shares(7, 3) == [3, 2, 2]
    assert shares(3, 3) == [1, 1, 1]


def test_another_process_gets_every_flag_of_the_first_but_its_share_and_whose_it_is():
    given = ["--address", "h:1", "--namespace", "ns", "--task-queue", "q", "--strategy", "a.py", "--strategy", "b:C", "--module", "m.py",
             "--max-activities", "9", "--processes", "2", "--only-custom", "--config", "o.yaml", "--idle-exit", "60", "--connect-wait", "5"]
    first = parse_args(given)
    argv = sibling_argv(first, 4, 1234)
    assert argv[:4] == [sys.executable, "-P", "-m", "orchard_worker"]
    other = parse_args(argv[4:])
    assert {**vars(other), "max_activities": 9, "processes": 2, "parent": None} == vars(first)
    assert (other.max_activities, processes_of(other), other.parent) == (4, 1, 1234)  # one process of the first's, whatever its orchard.yaml says
    flags = {action.dest for action in parser()._actions} - {"help"}
    assert flags == set(vars(first)), "a flag the test (and sibling_argv) does not carry over"
    assert parse_args(["--max-act", "3", "--proc", "3"]).processes == 3  # abbreviated, as argparse allows


@pytest.mark.parametrize("argv, said", [
    (["--processes", "0"], "--processes 0: give 1 or more"),
    (["--processes", "5", "--max-activities", "4"], "--processes 5: more than --max-activities 4 (each process runs one activity at least)"),
])
def test_a_bad_number_of_processes_is_one_line_and_exit_2(argv, said, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)  # what worker.py runs; it exits before it connects
    assert done.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == f"python worker.py: error: {said}"


def _start(tmp_path: Path, address: str, queue: str, *flags: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / "worker.log").open("ab")
    env = orchard_env(tmp_path / "home", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "worker.py", "--address", address, "--task-queue", queue, *flags], cwd=ROOT, env=env, stdout=log, stderr=log)


def _serving(log: Path, first: subprocess.Popen[bytes], count: int, seconds: float = 90) -> set[int]:
    """The pids of the worker's processes once `count` of them say they serve (their log lines carry their pids)."""
    deadline = time.monotonic() + seconds
    while True:
        said = {int(line.split("[", 1)[1].split("]", 1)[0]) for line in log.read_text().splitlines() if " serving " in line and "[" in line}
        if len(said) >= count or time.monotonic() > deadline or first.poll() is not None:
            return said
        time.sleep(0.2)


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["first-stopped", "first-killed", "other-killed"])
async def test_three_processes_poll_the_same_queues_with_their_shares_and_stop_together(client, named_server, tmp_path, repo, ending):
    queue = f"processes-{uuid.uuid4().hex[:8]}"
    first = _start(tmp_path, named_server, queue, "--processes", "3", "--max-activities", "7", "--strategy", str(ROOT / "examples" / "fanout_two.py"))
    log = tmp_path / "worker.log"
    try:
        pids = _serving(log, first, 3)
        assert first.pid in pids and len(pids) == 3, log.read_text()[-2000:]
        others = sorted(pids - {first.pid})
        assert all(_parent(pid) == first.pid for pid in others)
        assert sorted(_argv(pid)[_argv(pid).index("--max-activities") + 1] for pid in others) == ["2", "2"]  # 3 for the first
        assert all(_argv(pid)[_argv(pid).index("--task-queue") + 1] == queue for pid in others)
        if ending == "first-stopped":  # six instances at once: more than the first's share of three, so another runs some
            marks = tmp_path / "marks"
            agent = tmp_path / "agent.sh"
            agent.write_text(f"#!/bin/bash\necho $PPID >> {marks}\nsleep 1\necho done\n")
            agent.chmod(0o755)
            result = await run_strategy(client, queue, "fan-out", repo, params={"n": 6}, agent=str(agent), max_parallel=6, runner="local",
                                        import_policy="never")
            assert result.status == "success" and len(result.instances) == 6
            ran = {int(pid) for pid in marks.read_text().split()}
            assert len(ran) >= 2 and ran <= pids, (ran, pids)
        if ending == "first-stopped":
            first.send_signal(signal.SIGTERM)
            assert first.wait(60) == 0
        elif ending == "first-killed":  # nothing signals the others: they see their parent gone
            first.kill()
            first.wait(10)
        else:  # one of the others dies: the first stops the rest, and says so
            os.kill(others[0], signal.SIGKILL)
            assert first.wait(60) == 1
            assert "exited with -9: stopping the others" in (tmp_path / "worker.log").read_text()
        assert all(_gone(pid, 60) for pid in others), (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
