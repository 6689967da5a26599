"""Record one history per built-in strategy (and the examples) into tests/histories/, the
round-robin run's rotation into tests/histories/rotation/, and a lock's own history into
tests/histories/semaphore/.

    python -m tests.record_histories [NAME ...]     # e.g. loop loop.fixed, or semaphore: only those

Run it after a deliberate change of a strategy's decisions; the replay tests then guard the new
behaviour. Paths in the histories are temporary ones, so nothing machine-specific is recorded.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

HISTORIES = Path(__file__).resolve().parent / "histories"
VARIANTS = [{"id": "plain"}, {"id": "brief", "prompt_suffix": "Be brief."}]
LEVELS = {"L0": "true", "L1": "test $(ls demo | wc -l) -ge 2"}
"""The demo agent writes a file per prompt: the second iteration's file passes L1."""
RUNS = {
    "simple": {},
    "best-of-n": {"n": 2, "verify": "test -d demo"},
    "best-of-n.selecting": {"n": 3, "select": "tests,tournament", "synthesize": True, "verify": "test -d demo"},
    "best-of-n.compare": {"compare": "score,tournament", "bracket": "single", "ensemble": VARIANTS},
    "iterative": {"iterations": 2},
    "bug-finding": {"target_area": "app.py"},
    "doc-review": {"pages_file": [{"title": "Read me", "path": "README.md"}, {"title": "App", "path": "app.py"}]},
    "multi-branch": {"variants": VARIANTS, "verify": "test -d demo"},
    "shadow": {"variants": VARIANTS},
    "round-robin": {"variants": VARIANTS, "experiment": "recorded"},
    "my-simple": {"greeting": "Hello"},
    "fan-out": {"n": 2},
    "propose-refine": {},
    "loop": {"verify": LEVELS},
    "loop.fixed": {"mode": "fixed", "verify": LEVELS},
    "loop.ralph": {"mode": "ralph", "verify": LEVELS, "state_dir": ".loop"},
    "loop.custom": {"mode": "custom", "module": "tests.workflows.loops.custom_modes.counting:CountingLoop", "config": {"stop_after": 2}},
    "runbook": {},  # RECORDED_RUNBOOK's pipeline
    "runbook-worker": {},  # RECORDED_RUNBOOK's worker, stopped once both items are done
    "runbook-cron": {},  # RECORDED_RUNBOOK's cron: the second run its schedule starts (it carries the first's ladders)
}
"""By history file: the strategy (the name before a dot) and its parameters."""
RECORDED_RUNBOOK = """
[pipeline.fix]
inputs = ["name"]
[[pipeline.fix.phase]]
name = "plan"
run = { agent = "planner" }
post = ["planned"]
[[pipeline.fix.phase]]
name = "write"
run = "echo attempt >> notes.txt"
[[pipeline.fix.phase]]
name = "verify"
run = "test $(wc -l < notes.txt) -ge 2"
on_fail = "write"
[[pipeline.fix.phase]]
name = "merge"
strategy = "merge"
lock = "main_branch"
[agent.planner]
prompt = "Write the plan to `plans/{name}.md`"
[guard.planned]
condition = "test -s plans/{name}.md"
[strategy.merge]
checkpoint = "git rev-parse HEAD"
[[strategy.merge.attempt]]
name = "break"
run = "git commit -q --allow-empty -m broken && false"
rollback = "git reset -q --hard {checkpoint}"
[[strategy.merge.attempt]]
name = "keep"
run = "git log --oneline -1"
[lock.main_branch]
heartbeat = "30s"
[worker.fixer]
queue = "bugs"
handler = "pipeline.quick"
concurrency = 2
idle_action = "wait:1s"
[queue.bugs]
source = "printf 'id=1\\\\nid=2\\\\n'"
format = "kv"
[pipeline.quick]
inputs = ["bug"]
[[pipeline.quick.phase]]
name = "note"
run = "echo {bug.id} > bug.txt"
[cron.watch]
interval = "1h"
monitors = ["idle", "leftovers"]
[monitor.idle]
source = "printf 'session=s1\\nsession=s2\\n'"
format = "kv"
condition = "test {session} = s1"
response = ["nudge", "escalate"]
[monitor.leftovers]
source = "printf 'a.tmp\\nb.tmp\\n'"
run = "echo removed {path}"
[action.nudge]
run = "echo nudged {session}"
[cron.watch.events]
on_nudge = "echo nudge {session}"
on_escalate = "echo escalate {session}: {reason}"
"""
"""A pipeline with an agent phase and its guard, a loop back, and a strategy chain that rolls back under a lock."""


def recorded_runbook(folder: Path, name: str) -> dict:
    from client.runbooks.registry import RunbookRegistry

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ops.toml").write_text(RECORDED_RUNBOOK)
    registry = RunbookRegistry.load_directory(folder)
    if name == "runbook-cron":
        return {"cron": "ops.cron.watch", "runbooks": registry.bundle("ops.cron.watch").model_dump(mode="json")}
    if name == "runbook-worker":
        return {"worker": "ops.worker.fixer", "runbooks": registry.bundle("ops.worker.fixer").model_dump(mode="json")}
    bundle = registry.bundle("ops.pipeline.fix")
    return {"pipeline": "ops.pipeline.fix", "runbooks": bundle.model_dump(mode="json"), "inputs": {"name": "auth"}}


async def run_worker_until_done(client, repo: Path, params: dict, run_id: str) -> None:  # type: ignore[no-untyped-def]
    """A queue worker runs until stopped: stop it once every item is done."""
    from workflows.sdk.models import RunInput, RunProgress, SteerRequest, TaskDefaults
    from workflows.sdk.trail import ItemRecord

    handle = await client.start_workflow("runbook-worker", RunInput(prompt="worker", repo=str(repo), base_branch="main", params=params,
                                         defaults=TaskDefaults(agent_command="true")), id=run_id, task_queue="record")
    while True:
        progress = await handle.query("progress", result_type=RunProgress)
        if sum(1 for row in progress.trail if isinstance(row, ItemRecord) and row.status == "done") == 2:
            break
        await asyncio.sleep(0.2)
    await handle.execute_update("steer", SteerRequest(action="stop", by="recorder"), result_type=str)
    await handle.result()


async def run_cron_twice(client, repo: Path, params: dict, schedule_id: str) -> str:  # type: ignore[no-untyped-def]
    """A cron's schedule, triggered twice: the id of its second run (which read the first's ladders and went on)."""
    from datetime import timedelta

    from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec, ScheduleState

    from workflows.sdk.models import RunInput, TaskDefaults

    action = ScheduleActionStartWorkflow("runbook-cron", RunInput(prompt="cron", repo=str(repo), base_branch="main", params=params,
                                         defaults=TaskDefaults(agent_command="true")), id=schedule_id, task_queue="record")
    schedule = await client.create_schedule(schedule_id, Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                                                                  state=ScheduleState(paused=True)))
    run_id = ""
    for runs in (1, 2):
        await schedule.trigger()
        while (described := await schedule.describe()).info.num_actions < runs:
            await asyncio.sleep(0.2)
        run_id = described.info.recent_actions[-1].action.workflow_id  # type: ignore[attr-defined]
        await client.get_workflow_handle(run_id).result()
    await schedule.delete()
    return run_id


AGENT_KNOBS = {
    # A review with findings, so the recorded iterative run refines once.
    "iterative": "DEMO_AGENT_ONLY_KEY=round/1/review DEMO_AGENT_ANSWER='1. Add a test.'",
    "bug-finding": """DEMO_AGENT_ANSWER='{"title": "Crash on empty input", "severity": "low", "files": ["app.py"]}'""",
}


async def record_rotation(client, repo: str) -> None:  # type: ignore[no-untyped-def]
    """The round-robin run's rotation, after a repeated request and one more turn."""
    from workflows.coordination.rotation import ROTATION_WORKFLOW, RotationWorkflow, rotation_id
    from workflows.coordination.states import TurnRequest

    rotation = client.get_workflow_handle(rotation_id(repo, RUNS["round-robin"]["experiment"]))
    for run_id in ("run_recorded_round-robin", "run_recorded_next"):
        await rotation.execute_update(RotationWorkflow.take_turn, TurnRequest(run_id=run_id, options=[v["id"] for v in VARIANTS]))
    history = await rotation.fetch_history()
    (HISTORIES / "rotation").mkdir(exist_ok=True)
    (HISTORIES / "rotation" / f"{ROTATION_WORKFLOW}.json").write_text(history.to_json())
    print(f"recorded the rotation: {len(history.events)} events", file=sys.stderr)


async def record_semaphore(client) -> None:  # type: ignore[no-untyped-def]
    """A lock's own history: a slot granted at once and one waited for, beats, a holder whose beats
    stop losing the slot by the lock's timer, one held past its hold timeout, and the lock ending idle."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.worker import Worker

    from orchard_common.sandbox import sandbox_runner
    from tests.activities.coordination.helpers import Holder
    from workflows.coordination.semaphores import SEMAPHORE_WORKFLOW, LeaseRequest, SemaphoreWorkflow, semaphore_id
    from workflows.coordination.states import SemaphoreState

    queue, repo = "record-semaphore", "/recorded/repo"
    lock = client.get_workflow_handle(semaphore_id(repo, "main_branch"))
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow, Holder], workflow_runner=sandbox_runner()):
        holder = await client.start_workflow(Holder.run, id="run_recorded_holder", task_queue=queue)

        async def ask(token: str, **limits: float | None) -> None:
            start = WithStartWorkflowOperation(SemaphoreWorkflow.run, SemaphoreState(name="main_branch", repo=repo), id=lock.id, task_queue=queue,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            await client.execute_update_with_start_workflow(SemaphoreWorkflow.enqueue, LeaseRequest(token=token, holder=holder.id, **limits),
                                                            start_workflow_operation=start)

        async def told(event: str) -> None:
            while event not in await holder.query(Holder.events):
                await asyncio.sleep(0.1)

        await ask("beats", heartbeat=0.5)
        await ask("silent", heartbeat=0.5)
        await ask("timed", heartbeat=0.5)
        for _ in range(3):
            await lock.signal(SemaphoreWorkflow.beat, "beats")
            await asyncio.sleep(0.4)
        await lock.signal(SemaphoreWorkflow.release, "beats")
        await told("lost silent")  # it never beat: taken back, and the next in line granted
        await ask("timed", heartbeat=None, hold_timeout=0.5)  # the latest definition wins: a hold timeout, no heartbeat
        await told("lost timed")
        await lock.result()  # nobody holds or waits for it: it ends
        await holder.terminate("recorded")
    history = await lock.fetch_history()
    (HISTORIES / "semaphore").mkdir(exist_ok=True)
    (HISTORIES / "semaphore" / f"{SEMAPHORE_WORKFLOW}.json").write_text(history.to_json())
    print(f"recorded the semaphore: {len(history.events)} events", file=sys.stderr)


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="orchard-record-"))
    os.environ["ORCHARD_HOME"] = str(scratch / "home")
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from client.embedded.dev_settings import temporal_binary
    from orchard_common.connection import ensure_search_attributes
    from orchard_worker.main import build_worker, strategies_for
    from tests.conftest import ROOT, make_repo, run_strategy

    agent = scratch / "demo_agent.py"
    shutil.copy(ROOT / "examples" / "demo_agent.py", agent)
    examples = [str(ROOT / "examples" / f) for f in ("custom_simple.py", "fanout_two.py", "propose_refine.py")]
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter)
    async with env:
        await ensure_search_attributes(env.client)
        async with build_worker(env.client, "record", strategies_for(examples)):
            HISTORIES.mkdir(exist_ok=True)
            chosen = sys.argv[1:] or [*RUNS, "semaphore"]
            strategies = [n for n in chosen if n != "semaphore"]
            for name, params in ((n, RUNS.get(n) or recorded_runbook(scratch / "runbooks", n)) for n in strategies):
                repo = make_repo(scratch / f"repo-{name}")
                run_id = f"run_recorded_{name}"
                command = f"{AGENT_KNOBS.get(name, '')} python3 {agent}".strip()
                if name == "runbook-worker":
                    await run_worker_until_done(env.client, repo, params, run_id)
                elif name == "runbook-cron":
                    run_id = await run_cron_twice(env.client, repo, params, run_id)
                else:
                    await run_strategy(env.client, "record", name.split(".")[0], repo, params=params, agent=command, run_id=run_id)
                history = await env.client.get_workflow_handle(run_id).fetch_history()
                (HISTORIES / f"{name}.json").write_text(history.to_json())
                print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
            if "round-robin" in chosen:
                await record_rotation(env.client, str(scratch / "repo-round-robin"))
            if "semaphore" in chosen:
                await record_semaphore(env.client)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
