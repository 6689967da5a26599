"""otters' newer runbooks on Temporal, with mocked activities (what each command does is the test's):
a cron's runs, started by a real Temporal Schedule, walk each matching item up its response ladder
from one run to the next (the ladders ride on the schedule's last completion result), skip what
[safety] protects and act on nothing on a dry first run; a phase's on_fail action runs and the
phase runs again; a queue's items fire their own events (on_issue_requeue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleHandle, ScheduleIntervalSpec, ScheduleSpec, ScheduleState

from client.runbooks.registry import RunbookRegistry, load_runbooks, runbook_files
from tests.conftest import ROOT, final_result
from tests.scripted import until
from workflows.runbooks.consumer_state import HookInput, QueueRead, QueueReadInput
from workflows.runbooks.monitors import CommandInput, CommandOutcome, MatchedItem, MonitorCheck, MonitorCheckInput, item_key
from workflows.runbooks.steps import StepInput, StepOutcome
from workflows.sdk.models import CommitStats, InstanceInput, InstanceResult, ResolveInput, RunInput, RunResult, SteerRequest, TaskDefaults

BASE = "b" * 40


@dataclass
class Host:
    """One test's world: what each monitor's source lists as matching, which commands fail, and every command run."""

    matching: dict[str, list[Any]] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)
    """Substrings of the commands (steps, actions, events) that exit 1."""
    commands: list[str] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    """What a queue's source lists."""
    step_fails: dict[str, int] = field(default_factory=dict)
    """A step label's substring -> how many more times it fails."""

    def exit_code(self, command: str) -> int:
        for pattern, left in self.step_fails.items():
            if pattern in command and left > 0:
                self.step_fails[pattern] = left - 1
                return 1
        return 1 if any(f in command for f in self.failing) else 0


HOSTS: dict[str, Host] = {}


@activity.defn(name="resolve_base")
async def resolve_base(inp: ResolveInput) -> str:
    return BASE


@activity.defn(name="check_runbook_monitor")
async def check_runbook_monitor(inp: MonitorCheckInput) -> MonitorCheck:
    items = HOSTS[inp.repo].matching.get(inp.monitor.name, [])
    return MonitorCheck(listed=len(items), matched=[MatchedItem(key=item_key(i), item=i) for i in items], matching=[item_key(i) for i in items])


@activity.defn(name="run_runbook_command")
async def run_runbook_command(inp: CommandInput) -> CommandOutcome:
    host = HOSTS[inp.repo]
    host.commands.append(inp.command)
    code = host.exit_code(inp.command)
    return CommandOutcome(exit_code=code, output_tail="" if code == 0 else f"{inp.command}: failed")


@activity.defn(name="claim_loop_host")
async def claim_loop_host() -> str:
    return activity.info().task_queue + "@cron-host"


@activity.defn(name="run_runbook_step")
async def run_runbook_step(inp: StepInput) -> StepOutcome:
    host = HOSTS[inp.repo]
    host.commands.append(inp.command)
    code = host.exit_code(inp.command)
    return StepOutcome(exit_code=code, stdout=inp.command, output_tail="" if code == 0 else "failed", commit=inp.start_commit)


@activity.defn(name="finish_loop")
async def finish_loop(run_id: str, loop_key: str, base_commit: str, commit: str) -> CommitStats:
    return CommitStats()


@activity.defn(name="read_runbook_queue")
async def read_runbook_queue(inp: QueueReadInput) -> QueueRead:
    settled = set(inp.settled)
    return QueueRead(items=[i for i in HOSTS[inp.repo].items if str(i["id"]) not in settled], settled=list(settled))


@activity.defn(name="run_runbook_hook")
async def run_runbook_hook(inp: HookInput) -> None:
    HOSTS[inp.repo].commands.append(inp.command)


@activity.defn(name="run_instance")
async def run_instance(inp: InstanceInput) -> InstanceResult:
    """A queue's task: the flaky item fails, the others work."""
    failed = "Flaky" in inp.task.prompt
    return InstanceResult(success=not failed, status="failed" if failed else "success", error="tests failed" if failed else None, key=inp.key,
                          base_commit=BASE, commit=BASE)


@pytest.fixture(scope="session")
async def cron_queue(temporal_env):
    """A worker whose cron, pipeline and queue activities are the mocks above."""
    from activities.coordination.events import emit_event
    from orchard_worker.main import build_worker, strategies_for

    queue = f"test-cron-{uuid.uuid4().hex[:8]}"
    mocks = [resolve_base, check_runbook_monitor, run_runbook_command, claim_loop_host, run_runbook_step, finish_loop, read_runbook_queue,
             run_runbook_hook, run_instance, emit_event]
    async with build_worker(temporal_env.client, queue, strategies_for([]), activities=mocks, host=queue + "@cron-host", heartbeat_every=0.2):
        yield queue


def registry(tmp_path: Path, **files: str) -> RunbookRegistry:
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text)
    loaded = load_runbooks(runbook_files(folder))
    assert loaded.problems == [], loaded.problems
    return RunbookRegistry(loaded.runbooks)


def run_input(repo: str, params: dict[str, Any]) -> RunInput:
    return RunInput(prompt="runbook", repo=repo, base_branch="main", params=params, defaults=TaskDefaults(agent_command="scripted"))


async def scheduled(client: Client, queue: str, books: RunbookRegistry, cron: str) -> tuple[ScheduleHandle, Host]:
    """The cron's schedule, paused (a test triggers each run), and the world its runs see."""
    repo = f"/scripted/cron-{uuid.uuid4().hex[:8]}"
    HOSTS[repo] = host = Host()
    params = {"cron": cron, "runbooks": books.bundle(cron).model_dump(mode="json")}
    ident = f"cron_test_{uuid.uuid4().hex[:8]}"
    action = ScheduleActionStartWorkflow("runbook-cron", run_input(repo, params), id=ident, task_queue=queue)
    handle = await client.create_schedule(ident, Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                                                          state=ScheduleState(paused=True)))
    return handle, host


async def tick(client: Client, handle: ScheduleHandle) -> RunResult:
    """One run of the cron, triggered, to its end: its result."""
    before = (await handle.describe()).info.num_actions
    await handle.trigger()
    described = await until(lambda: _ran(handle, before), timeout=20)
    return await final_result(client.get_workflow_handle(described.info.recent_actions[-1].action.workflow_id, result_type=RunResult))


async def _ran(handle: ScheduleHandle, before: int) -> Any:
    described = await handle.describe()
    return described if described.info.num_actions > before else None


WATCHDOG = """
[cron.watchdog]
interval = "30s"
monitors = ["agent_idle", "stale_worktrees"]

[monitor.agent_idle]
source = "oj pipeline list --json"
condition = "oj session idle {session}"
response = ["nudge", "restart:2", "escalate"]

[monitor.stale_worktrees]
source = "git worktree list"
run = "git worktree remove {path}"

[action.nudge]
run = "oj session nudge {session}"

[action.restart]
run = "oj session restart {session}"

[cron.watchdog.events]
on_nudge = "emit nudge {session}"
on_restart = "emit restart {session}"
on_escalate = "emit escalate {session}: {reason}"
on_clean = "emit clean {monitor} {id}"
on_skip = "emit skip {id}: {reason}"

[safety]
protected = [".git", "main"]
dry_run_first = true
"""


async def test_a_cron_walks_each_item_up_its_ladder_one_step_per_run_and_skips_what_safety_protects(client, cron_queue, tmp_path):
    books = registry(tmp_path, watchdog=WATCHDOG)
    handle, host = await scheduled(client, cron_queue, books, "watchdog.cron.watchdog")
    host.matching = {"agent_idle": [{"session": "s1", "name": "build-auth"}, {"session": "main"}], "stale_worktrees": ["wt/a", "wt/b", ".git/x"]}
    host.failing = ["remove wt/b"]
    try:
        first = await tick(client, handle)
        assert first.status == "success" and "dry run (dry_run_first)" in first.instances[0].selection.reason
        assert all(c.startswith("emit skip") for c in host.commands)  # acts on nothing: says what it would do
        assert "emit skip build-auth: 'dry run (dry_run_first): would run nudge'" in host.commands

        host.commands.clear()
        await tick(client, handle)
        assert host.commands == [
            "oj session nudge s1", "emit nudge s1",
            "emit skip main: 'main is protected by [safety] (main)'",  # a protected item is never acted on
            "git worktree remove wt/a", "emit clean stale_worktrees wt/a",
            "git worktree remove wt/b",  # it failed: left as it is, the next run tries again
            "emit skip .git/x: '.git/x is protected by [safety] (.git)'",
        ]
        host.matching["stale_worktrees"] = []
        steps = []
        for _ in range(4):
            host.commands.clear()
            await tick(client, handle)
            steps.append([c for c in host.commands if not c.startswith("emit skip main")])
        assert steps == [
            ["oj session restart s1", "emit restart s1"],  # still idle after the nudge
            ["oj session restart s1", "emit restart s1"],  # restart:2
            ["emit escalate s1: 'agent_idle: build-auth still matches after nudge, restart x2'"],
            [],  # escalated: left alone while it matches
        ]
        host.matching["agent_idle"] = []
        await tick(client, handle)  # it stopped matching: its ladder is gone
        host.matching["agent_idle"] = [{"session": "s1"}]
        host.commands.clear()
        last = await tick(client, handle)
        assert host.commands == ["oj session nudge s1", "emit nudge s1"]  # from the first step again
        assert last.instances[0].metadata["cron"]["runs"] == 8
    finally:
        await handle.delete()


BUILD = """
[pipeline.build]
inputs = ["name"]

[[pipeline.build.phase]]
name = "execute"
run = "make {name}"
on_fail = "verify_and_retry"

[action.verify_and_retry]
run = "verify {name}: {error}"
max_attempts = 1

[events]
on_retry = "echo retry {phase}: {reason}"
on_build_verify_and_retry = "echo recovered {name}"
"""


async def test_a_phase_s_on_fail_action_runs_then_the_phase_runs_again_at_most_its_max_attempts(client, cron_queue, tmp_path):
    books = registry(tmp_path, build=BUILD)
    params = {"pipeline": "build.pipeline.build", "runbooks": books.bundle("build.pipeline.build").model_dump(mode="json"), "inputs": {"name": "auth"}}
    results = {}
    for case, fails in (("recovers", 1), ("gives up", 5)):
        repo = f"/scripted/build-{uuid.uuid4().hex[:8]}"
        HOSTS[repo] = host = Host(step_fails={"make auth": fails})
        handle = await client.start_workflow("runbook", run_input(repo, params), id=f"run_{uuid.uuid4().hex[:8]}", task_queue=cron_queue, result_type=RunResult)
        results[case] = (await final_result(handle), host.commands)
    recovered, commands = results["recovers"]
    assert recovered.status == "success"
    assert commands == ["make auth", "verify auth: 'exited 1: failed'", "echo recovered auth",  # on_build_verify_and_retry
                        "echo retry execute: 'action verify_and_retry worked'", "make auth"]
    gave_up, commands = results["gives up"]
    assert gave_up.status == "failed" and commands.count("make auth") == 2
    assert gave_up.instances[0].error == "phase execute failed: exited 1: failed (its on_fail action verify_and_retry ran 1 time(s), its max_attempts)"


LOOP = """
[worker.loop]
queue = "issues"
handler = "task.resolve"
poll = "1h"

[queue.issues]
max_retries = 1
on_exhaust = "drop"

[task.resolve]
prompt = "Resolve {item}"

[events]
on_issue_start = "note start {issue.id}"
on_issue_fail = "note fail {issue.id}: {error}"
on_issue_requeue = "note requeued {issue.id}: {reason}"
on_abandon = "note gave up {id}"
"""


async def test_a_queue_s_items_fire_their_own_events_start_fail_requeue_and_abandon(client, cron_queue, tmp_path):
    books = registry(tmp_path, loop=LOOP)
    repo = f"/scripted/loop-{uuid.uuid4().hex[:8]}"
    HOSTS[repo] = host = Host(items=[{"id": 7, "title": "Flaky"}])
    params = {"worker": "loop.worker.loop", "runbooks": books.bundle("loop.worker.loop").model_dump(mode="json")}
    handle = await client.start_workflow("runbook-worker", run_input(repo, params), id=f"worker_{uuid.uuid4().hex[:8]}", task_queue=cron_queue,
                                         result_type=RunResult)
    await until(lambda: "note gave up 7" in host.commands, timeout=20)
    await handle.execute_update("steer", SteerRequest(action="stop", by="test"), result_type=str)
    await final_result(handle)
    assert [c.split(":")[0] for c in host.commands] == ["note start 7", "note fail 7", "note requeued 7",  # max_retries = 1: once more
                                                        "note start 7", "note fail 7", "note gave up 7"]  # on_exhaust = "drop"
    assert "tests failed" in host.commands[2] and host.commands[2].startswith("note requeued 7: '")  # the reason, one quoted word


OTTERS = ROOT / "tests" / "runbooks" / "otters"
"""Runbooks in otters' idioms: a watchdog, a janitor, a triager, a build and a loop."""


def test_the_runbooks_in_otters_idioms_are_valid() -> None:
    loaded = load_runbooks(runbook_files(OTTERS))
    assert loaded.problems == [] and sorted(loaded.runbooks) == [
        "bugfix", "build", "build.actions", "build.minimal", "janitor", "loop", "loop.events", "mergeq", "triager", "watchdog"]


async def test_the_triager_retries_a_failed_pipeline_then_marks_a_repeat_failure_flaky_and_escalates_it(client, cron_queue, tmp_path):
    books = registry(tmp_path, triager=(OTTERS / "triager.toml").read_text())
    handle, host = await scheduled(client, cron_queue, books, "triager.cron.triager")
    host.matching = {"failed_pipelines": [{"name": "build-ui"}], "repeat_failures": [{"name": "build-auth", "epic": "e-1"}]}
    try:
        runs = []
        for _ in range(3):
            host.commands.clear()
            await tick(client, handle)
            runs.append(list(host.commands))
            host.matching["failed_pipelines"] = []  # resumed: it no longer fails
    finally:
        await handle.delete()
    assert runs == [
        ["oj pipeline resume build-ui", "oj emit triager:retry --id build-ui",  # a monitor's run: the triager's retry
         "oj pipeline label build-auth flaky\nwok label e-1 flaky\n", "oj emit triager:flaky --id build-auth"],  # on_<action>
        ["oj emit triager:escalate --id build-auth"],  # still failing at the next run: the ladder's next step
        [],
    ]
