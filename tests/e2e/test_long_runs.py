"""A long run for real: 120 no-op instances in sequence (real instance activities: workspace,
agent process, cleanup) on a worker process, continuing as new every 40 instances, with the
worker killed with -9 in the middle. Nothing is lost, every history of the chain stays small, and
`orchard show` and `orchard list` see one run. (bench/bench_long_run.py runs 1,000 and prints the
figures.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT, orchard, orchard_env
from workflows.sdk.models import RunInput, RunProgress, RunResult, TaskDefaults
from workflows.sdk.visibility import run_search_attributes

pytestmark = pytest.mark.slow

LONG_RUN = str(ROOT / "examples" / "long_run.py")
INSTANCES, EVERY = 120, 40
EVENTS_PER_INSTANCE = 7
"""An upper bound: 3 events per activity, 3 per workflow task, and a little slack."""


async def done_so_far(handle) -> int:
    try:
        progress = await asyncio.wait_for(handle.query("progress", result_type=RunProgress), 3)
    except Exception:  # between two runs of the chain, or the worker is gone
        return 0
    return progress.earlier.get("success", 0) + sum(p.status == "success" for p in progress.instances)


async def test_a_long_run_continues_as_new_and_survives_a_killed_worker(named_server, client, repo, tmp_path):
    home = tmp_path / "home"
    env = orchard_env(home)
    queue = f"long-{uuid.uuid4().hex[:6]}"
    log = (tmp_path / "worker.log").open("ab")

    def start_worker() -> subprocess.Popen[bytes]:
        argv = [sys.executable, "worker.py", "--address", named_server, "--task-queue", queue, "--strategy", LONG_RUN, "--only-custom"]
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    worker = start_worker()
    run_id = f"run_long_{uuid.uuid4().hex[:6]}"
    run_input = RunInput(
        prompt="nothing to do", repo=str(repo), base_branch="main", params={"n": INSTANCES, "every": EVERY},
        defaults=TaskDefaults(agent_command="true", import_policy="never"), max_parallel=1, strategy_spec=LONG_RUN,
    )
    handle = await client.start_workflow("long-run", run_input, id=run_id, task_queue=queue, result_type=RunResult,
                                         search_attributes=run_search_attributes("long-run", str(repo)))
    try:
        deadline = asyncio.get_running_loop().time() + 300
        while await done_so_far(handle) < INSTANCES // 2:
            assert asyncio.get_running_loop().time() < deadline, f"only {await done_so_far(handle)} instances in 300 s; see {log.name}"
            await asyncio.sleep(0.5)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker = start_worker()
        # `orchard watch` follows the chain to its end (its runs continue as new under the same id).
        watched = await asyncio.to_thread(orchard, "watch", run_id, "--address", named_server, "--output", "quiet", env=env, cwd=repo, timeout=600)
        assert watched.returncode == 0 and watched.stdout.startswith(f"{run_id} success"), watched.stderr
        result = await handle.result()
    finally:
        worker.terminate()
        worker.wait(30)

    assert result.status == "success" and result.instances_run == INSTANCES and result.runs == INSTANCES // EVERY
    assert result.instances[0].metadata["done"] == INSTANCES and result.instances[0].key == f"noop/{INSTANCES - 1}"
    recorded = list((home / "runs" / run_id).glob("k*/result.json"))
    assert len(recorded) == INSTANCES  # every instance finished and left its record
    chain = [wf async for wf in client.list_workflows(f'WorkflowId = "{run_id}"')]
    assert len(chain) == INSTANCES // EVERY
    for run in chain:
        events = [e async for e in client.get_workflow_handle(run_id, run_id=run.run_id).fetch_history_events()]
        assert len(events) <= EVERY * EVENTS_PER_INSTANCE + 20, (run.run_id, len(events))

    shown = orchard("show", run_id, "--address", named_server, "--output", "json", env=env, cwd=repo)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["status"], data["instances_run"], data["runs"]) == ("success", INSTANCES, INSTANCES // EVERY)
    listed = orchard("list", "--address", named_server, "--strategy", "long-run", "--repo", str(repo), "--output", "json", env=env, cwd=repo)
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [run_id]
