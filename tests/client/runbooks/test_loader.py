"""Validated runbooks as runtime types, and the registry that finds them and cuts out what one pipeline needs."""

from __future__ import annotations

import time

import pytest

from client.runbooks.problems import RunbookError
from client.runbooks.registry import RunbookRegistry, load_runbooks, runbook_files
from tests.conftest import ROOT
from workflows.runbooks import model as m

EXAMPLES = ROOT / "examples" / "runbooks"


@pytest.fixture(scope="module")
def registry() -> RunbookRegistry:
    return RunbookRegistry.load_directory(EXAMPLES)


def test_a_pipeline_s_phases_carry_their_actions_guards_and_edges(registry: RunbookRegistry) -> None:
    build: m.PipelineDef = registry.resolve("build.pipeline.build")
    assert [p.name for p in build.phases] == ["init", "plan", "execute", "verify", "merge", "done"]
    init, plan, execute, verify, merge, done = build.phases
    assert isinstance(init.action, m.RunShell) and init.next == m.GotoPhase(phase="plan")  # no next: the phase after it
    assert plan.action == m.RunTask(task="common.task.planning") and plan.post == ["common.guard.plan_exists"]
    assert plan.semaphore == "common.semaphore.agents" and plan.on_fail == m.Failed()
    assert execute.action == m.RunTask(task="build.task.execution") and execute.on_fail == m.Escalate()
    assert verify.on_fail == m.RetryPhase(retry=m.Retry(max=2, interval=30))
    assert merge.action == m.RunChain(strategy="common.strategy.merge") and merge.lock == "common.lock.main_branch"
    assert merge.next == m.GotoPhase(phase="done") and done.next == m.Done()  # `next = "done"` names the phase called done
    assert list(build.defaults) == ["reviewer", "title"] and build.required_inputs() == ["name", "prompt"]
    assert build.publish == ["main"] and build.events.on_fail is not None


def test_tasks_guards_strategies_locks_and_semaphores_become_typed_definitions(registry: RunbookRegistry) -> None:
    planning: m.TaskDef = registry.resolve("common.task.planning")
    assert planning.prompt.syntax == "file" and "{{ name }}" in planning.prompt.source and planning.timeout == 1800
    execution: m.TaskDef = registry.resolve("build.task.execution")
    assert execution.on_stuck == ["nudge", "restart"] and execution.on_timeout == "escalate" and execution.idle_timeout == 300
    merge: m.ChainDef = registry.resolve("common.strategy.merge")
    assert [a.name for a in merge.attempts] == ["fast-forward", "rebase", "agent-resolve"]
    assert merge.attempts[2].action == m.RunTask(task="common.task.conflict_resolution") and merge.attempts[1].rollback is not None
    assert merge.on_exhaust == m.ExhaustAction(kind="escalate") and merge.attempts[0].timeout == 60
    lock: m.LockDef = registry.resolve("common.lock.main_branch")
    assert (lock.timeout, lock.heartbeat, lock.on_stale) == (1800, 30, ["release", "escalate"])
    assert registry.resolve("common.semaphore.agents").max == 4
    guard: m.GuardDef = registry.resolve("common.guard.tests_pass")
    assert guard.retry == m.Retry(max=2, interval=10) and guard.on_timeout == m.Escalate()


def test_queues_workers_commands_and_events(registry: RunbookRegistry) -> None:
    queue: m.QueueDef = registry.resolve("bugfix.queue.bugs")
    assert queue.format == "json" and queue.order == [m.SortKey(field="priority", descending=True), m.SortKey(field="id")]
    assert queue.max_retries == 2 and queue.dead.retention == 7 * 86400
    consumer: m.ConsumerDef = registry.resolve("bugfix.worker.bugfix")
    assert (consumer.queue, consumer.handler, consumer.concurrency, consumer.idle_wait) == ("bugfix.queue.bugs", "bugfix.pipeline.fix", 2, 60)
    command: m.CommandDef = registry.resolve("build.command.build")
    assert command.action == m.RunPipeline(pipeline="build.pipeline.build")
    assert command.args.parse(["auth", "Add auth", "-r", "alice"]) == {"name": "auth", "prompt": "Add auth", "reviewer": "alice"}
    events = registry.runbooks["bugfix"].events
    assert events.by_pipeline["fix"].on_complete is not None and events.on_complete is None
    fix: m.PipelineDef = registry.resolve("bugfix.pipeline.fix")
    assert fix.phases[2].on_fail == m.GotoPhase(phase="fix") and fix.max_visits == 4  # the seed's loop back, bounded


def test_references_resolve_in_every_spelling_and_say_what_exists(registry: RunbookRegistry) -> None:
    assert registry.resolve("build.build", "pipeline") is registry.resolve("build.pipeline.build")
    with pytest.raises(KeyError, match=r"runbook common has no task 'plan' \(did you mean 'planning'\?\); its tasks: conflict_resolution, planning"):
        registry.resolve("common.task.plan")
    with pytest.raises(KeyError, match="no runbook 'bild'"):
        registry.resolve("bild.pipeline.build")
    with pytest.raises(KeyError, match="write RUNBOOK.pipeline.NAME"):
        registry.resolve("build", "pipeline")


def test_a_bundle_holds_what_a_pipeline_reaches_and_survives_json(registry: RunbookRegistry) -> None:
    bundle = registry.bundle("build.pipeline.build")
    assert sorted(bundle.runbooks) == ["build", "common"]
    common = bundle.runbooks["common"]
    assert sorted(common.tasks) == ["conflict_resolution", "planning"] and sorted(common.guards) == ["plan_exists"]
    assert list(common.strategies) == ["merge"] and list(common.locks) == ["main_branch"] and common.config["main"] == "main"
    assert bundle.runbooks["build"].commands == {} and list(bundle.runbooks["build"].tasks) == ["execution"]
    again = m.RunbookSet.model_validate_json(bundle.model_dump_json())
    assert again == bundle and again.get("common.strategy.merge").attempts[0].name == "fast-forward"


def test_a_folder_with_problems_raises_them_all(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.toml").write_text('[task.x]\nprompt = "{nope"\n[lock.l]\ntimeout = "soon"\n')
    with pytest.raises(RunbookError) as raised:
        RunbookRegistry.load_directory(tmp_path)
    assert len(raised.value.problems) == 2 and "(and 1 more" in str(raised.value)
    with pytest.raises(RunbookError, match="no such folder of runbooks"):
        RunbookRegistry.load_directory(tmp_path / "missing")


def _pipeline_of(folder, phases: int, looping: bool = False):  # type: ignore[no-untyped-def]
    folder.mkdir(exist_ok=True)
    last = 'next = "p0"\n' if looping else ""
    tables = "".join(f'[[pipeline.long.phase]]\nname = "p{i}"\nrun = "echo {i}"\n{last if i == phases - 1 else ""}\n' for i in range(phases))
    (folder / "ops.toml").write_text(f"[pipeline.long]\ninputs = []\n\n{tables}")
    return load_runbooks(runbook_files(folder))


def test_a_pipeline_past_the_most_phases_is_refused_at_once_naming_the_limit(tmp_path) -> None:
    """10,000 phases were a RecursionError traceback after 25 s (1,100 already)."""
    started = time.monotonic()
    loaded = _pipeline_of(tmp_path / "runbooks", 10_000)
    assert [p.message for p in loaded.problems] == [(
        f"has 10,000 phases; a pipeline holds at most {m.MAX_PHASES:,} (its run keeps every phase in one Temporal history): "
        'split it into pipelines that its phases run (run = { pipeline = "NAME" })'
    )]
    assert time.monotonic() - started < 10  # ~1.5 s here: the TOML is read, its phases are not loaded


def test_a_pipeline_of_the_most_phases_is_valid_and_checked_without_recursion(tmp_path) -> None:
    started = time.monotonic()
    chain = _pipeline_of(tmp_path / "chain", m.MAX_PHASES)
    looping = _pipeline_of(tmp_path / "loop", m.MAX_PHASES, looping=True)  # one cycle of every phase: "cycle without termination"
    assert chain.problems == []
    assert [p.message for p in looping.problems] == [
        "cycle without termination: " + " -> ".join([*(f"p{i}" for i in range(m.MAX_PHASES)), "p0"]) + " (no phase in it has a next that leaves it)"
    ]
    assert time.monotonic() - started < 20  # ~2 s each here
