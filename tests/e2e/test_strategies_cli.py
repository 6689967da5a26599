"""The new strategies through the `orchard` command: shadow returning early and surviving a
killed worker, and a round-robin rotation surviving a killed worker. (Bad parameters, which need
no process: tests/client/commands/test_run.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import DEMO_AGENT, ROOT, orchard, orchard_branches, orchard_env, pid_in, run_strategy
from workflows.sdk.models import RunInput, RunResult, TaskDefaults

pytestmark = pytest.mark.slow


def _wait_for(log: Path, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while line not in (log.read_text().split() if log.exists() else []):
        assert time.monotonic() < deadline, f"{line} did not start"
        time.sleep(0.2)


def test_shadow_run_returns_with_the_primary_and_its_shadow_survives_a_killed_worker(embedded, repo, tmp_path):
    home, env, _, _ = embedded
    log = tmp_path / "agent-runs.log"
    (tmp_path / "variants.yaml").write_text("- id: main\n- id: careful\n  prompt_suffix: Take your time.\n")
    agent = f"DEMO_AGENT_LOG={log} DEMO_AGENT_ONLY_KEY=variant/careful DEMO_AGENT_SLEEP=12 {DEMO_AGENT}"  # long enough to be seen running on a loaded machine
    # the agent writes a file of the test's outside its workspace: the local runner, which allows it
    ran = orchard("run", "add a greeting", "--strategy", "shadow", "-S", f"variants=@{tmp_path / 'variants.yaml'}",
                  "--agent-command", agent, "--runner", "local", "--output", "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    early = json.loads(ran.stdout.strip().splitlines()[-1])
    run_id = early["run_id"]
    assert early["early"] is True and [i["metadata"]["variant"] for i in early["instances"]] == ["main"]
    assert f"orchard watch {run_id}" in ran.stderr

    _wait_for(log, "variant/careful")
    deadline = time.monotonic() + 5  # its heartbeat says what it does within ~2 s (the throttle)
    while "agent running" not in (live := orchard("show", run_id, env=env, cwd=repo)).stdout and time.monotonic() < deadline:
        time.sleep(0.3)
    # The answer, and the shadow still going with its live state.
    assert "still going beside the answer:" in live.stdout and re.search(r"variant/careful\s+running .*agent running", live.stdout), live.stdout
    live_json = json.loads(orchard("show", run_id, "--output", "json", env=env, cwd=repo).stdout)
    assert [(g["key"], g["status"], g["heartbeat"]["phase"]) for g in live_json["still_going"]] == [("variant/careful", "running", "agent running")]
    os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)
    watched = orchard("watch", run_id, "--output", "json", env=env, cwd=repo, timeout=180)  # restarts the worker
    assert watched.returncode == 0, watched.stderr
    final = json.loads(watched.stdout.strip().splitlines()[-1])
    assert final["status"] == "success" and "early" not in final
    assert [(i["metadata"]["variant"], i["metadata"].get("shadow", False)) for i in final["instances"]] == [("main", False), ("careful", True)]
    runs = log.read_text().split()
    assert runs.count("variant/main") == 1 and runs.count("variant/careful") == 2  # only the interrupted shadow ran again
    assert len(orchard_branches(repo)) == 2

    shown = orchard("show", run_id, env=env, cwd=repo)
    assert shown.returncode == 0, shown.stderr
    cells = [line.replace("│", " ").split() for line in shown.stdout.splitlines()]
    assert {c[0]: c[1:3] for c in cells if c[:1] in (["main"], ["careful"])} == {"main": ["primary", "success"], "careful": ["shadow", "success"]}


VARIANTS = [{"id": "a", "prompt_suffix": "Variant A."}, {"id": "b", "prompt_suffix": "Variant B."}, {"id": "c", "prompt_suffix": "Variant C."}]


def _worker(address: str, queue: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "worker.py", "--address", address, "--task-queue", queue], cwd=ROOT, env=env)


async def test_round_robin_rotation_survives_a_killed_worker(named_server, client, repo, tmp_path):
    env = orchard_env(tmp_path / "home")
    queue = f"rr-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "agent-runs.log"
    agent = f"DEMO_AGENT_LOG={log} DEMO_AGENT_ONLY_KEY=variant/b DEMO_AGENT_SLEEP=3 {DEMO_AGENT}"
    params = {"variants": VARIANTS, "experiment": "greeting"}
    worker = _worker(named_server, queue, env)
    try:
        # the agent writes a file of the test's outside its workspace: the local runner, which allows it
        first = await run_strategy(client, queue, "round-robin", repo, params=params, agent=agent, runner="local")
        run_input = RunInput(prompt="add a greeting", repo=str(repo), base_branch="main", params=params,
                             defaults=TaskDefaults(agent_command=agent, runner="local"))
        second = await client.start_workflow("round-robin", run_input, id=f"run_rr_{uuid.uuid4().hex[:6]}", task_queue=queue, result_type=RunResult)
        _wait_for(log, "variant/b")
        worker.kill()  # the rotation's state was in this worker's cache; the next one replays it
        worker.wait(30)
        worker = _worker(named_server, queue, env)
        second_result = await second.result()
        third = await run_strategy(client, queue, "round-robin", repo, params=params, agent=agent, runner="local")
        results = [first, second_result, third]
        assert [(r.instances[0].variant.turn, r.instances[0].variant.id) for r in results] == [(0, "a"), (1, "b"), (2, "c")]
        assert all(r.status == "success" for r in results) and log.read_text().split().count("variant/b") == 2

        shown = orchard("show", "--experiment", "greeting", "--repo", str(repo), "--address", named_server, "--output", "json", env=env, cwd=repo)
        assert shown.returncode == 0, shown.stderr
        turns = json.loads(shown.stdout)["turns"]
        assert [(t["run_id"], t["variant"], t["status"]) for t in turns] == [(r.run_id, v, "success") for r, v in zip(results, "abc", strict=True)]
        table = orchard("show", "--experiment", "greeting", "--repo", str(repo), "--address", named_server, env=env, cwd=repo)
        assert "3 turns taken" in table.stdout and f"{second.id}" in table.stdout
    finally:
        worker.terminate()
        worker.wait(30)
