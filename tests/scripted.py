"""Scripted activities for tests of strategy decisions (tie-breaking, early stops, variant roles,
questions, children, continue-as-new): the workflows' activities by name, answering from a script
per run instead of running git and agents, as temporalio/samples-python's tests mock activities.
A run takes a fraction of a second; the real git and process paths have tests of their own.

A script says, by instance key (a regular expression that must match the whole key), what the
agent answers, whether it fails, changes nothing, takes a while or waits for the test, and which
verifications fail; every call is recorded, and so is the order instances started and ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity

from workflows.loops.models import CommandReport, IterationInput, IterationOutcome, LevelReport, Snapshot, VerificationReport
from workflows.runbooks.steps import StepInput, StepOutcome
from workflows.sdk.models import CommitStats, DiffInput, InstanceInput, InstanceResult, ResolveInput, VerifyInput, VerifyResult
from workflows.sdk.quota import QuotaPause

BASE_COMMIT = "b" * 40


@dataclass
class Script:
    answers: dict[str, str] = field(default_factory=dict)
    """Final messages by key pattern; a scorer asked without one gets a score from its key's hash."""
    failures: dict[str, str] = field(default_factory=dict)
    """Errors by key pattern: those instances fail with them."""
    unchanged: list[str] = field(default_factory=list)
    """Key patterns of instances that succeed without committing anything."""
    delays: dict[str, float] = field(default_factory=dict)
    """Seconds an instance takes, by key pattern."""
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    """Instances that wait, by key pattern, until the test sets the event (e.g. a shadow still running)."""
    failing_checks: list[str] = field(default_factory=list)
    """Verification commands (patterns) that fail."""
    failing_commits: list[str] = field(default_factory=list)
    """Key patterns of instances whose commit fails every verification."""
    test_outcomes: dict[str, dict[str, bool]] = field(default_factory=dict)
    """Generated tests' outcomes (test id -> passed) by the key pattern of the checked instance
    (`base` for the base commit), when a verification brings tests in (best-of-n's `select=tests`)."""
    usage: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """(input tokens, output tokens, cost in USD) an instance reports, by key pattern."""
    limits: dict[str, list[float | None]] = field(default_factory=dict)
    """Provider limits an instance's agent hits, by key pattern: its n-th run stops at one that
    resets after the n-th figure in seconds (None: no reset said); its later runs go on. A loop's
    iteration (or a pipeline's agent step) is keyed `<loop key>/<iteration>`, e.g. `loop/2`; a
    paused one reports $0.01 spent."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """A loop's iterations, in order (the last repeats): `tree` (content id; default a new one each
    iteration), `passed` (the levels that pass, e.g. ["L0"]; default none), `ci` (bool), `output`,
    `error` (the agent fails), `cost`, `session`, `delay` (seconds), `hold` (an Event to wait for),
    `flaky` (its first try fails as infrastructure does: a retryable error)."""
    lost_hosts: int = 0
    """How many times a loop is sent to a host that no worker polls (its workspace's host is gone)."""
    iterations: list[Any] = field(default_factory=list)
    """What each loop iteration was given (IterationInput), in order, tries included."""
    finished: list[str] = field(default_factory=list)
    """The loops whose workspace was removed (finish_loop), by host queue."""
    calls: list[InstanceInput] = field(default_factory=list)
    checks: list[VerifyInput] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    """`start KEY` and `end KEY`, in the order instances started and ended."""

    def started_keys(self) -> list[str]:
        """The keys of the instances run, in the order they started."""
        return [c.key for c in self.calls]

    def call(self, key: str) -> InstanceInput:
        """What the instance with this key was given (its task: prompt, base branch, agent settings)."""
        (found,) = [c for c in self.calls if c.key == key]
        return found

    def _first(self, table: dict[str, Any] | list[str], key: str) -> Any:
        for pattern in table:
            if re.fullmatch(pattern, key):
                return table[pattern] if isinstance(table, dict) else pattern
        return None


SCRIPTS: dict[str, Script] = {}
"""Scripts by run id; a child run (id `<parent>.<...>`) follows its parent's script."""


def script_for(run_id: str) -> Script:
    return SCRIPTS[run_id.split(".")[0]]


def commit_of(run_id: str, key: str) -> str:
    return hashlib.sha1(f"{run_id}/{key}".encode()).hexdigest()


@activity.defn(name="resolve_base")
async def resolve_base(inp: ResolveInput) -> str:
    return BASE_COMMIT


@activity.defn(name="run_instance")
async def run_instance(inp: InstanceInput) -> InstanceResult:
    script = script_for(inp.run_id)
    script.calls.append(inp)
    script.events.append(f"start {inp.key}")
    try:
        await _wait(script._first(script.delays, inp.key), script._first(script.holds, inp.key))
        limits = script._first(script.limits, inp.key) or []
        if inp.quota_pauses < len(limits):
            return _limited(script, inp, limits[inp.quota_pauses])
        return _result(script, inp)
    finally:
        script.events.append(f"end {inp.key}")


def _limited(script: Script, inp: InstanceInput, reset_in: float | None) -> InstanceResult:
    """The agent stopped at a provider's limit, having spent what its usage says."""
    tokens_in, tokens_out, cost = script._first(script.usage, inp.key) or (0, 0, 0.0)
    until = datetime.now(UTC) + timedelta(seconds=reset_in) if reset_in is not None else None
    return InstanceResult(
        success=False, status="failed", key=inp.key, error="API Error: Request rejected (429)", error_type="quota", plugin=inp.task.plugin,
        session_id=f"session-{inp.key}", input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost,
        quota=QuotaPause(until=until, reason="API Error: Request rejected (429)", pauses=inp.quota_pauses + 1),
    )


def _result(script: Script, inp: InstanceInput) -> InstanceResult:
    tokens_in, tokens_out, cost = script._first(script.usage, inp.key) or (0, 0, 0.0)
    common = {
        "key": inp.key, "plugin": inp.task.plugin, "model": inp.task.model, "base_commit": BASE_COMMIT, "duration_seconds": 0.01,
        "input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": cost,
    }
    error = script._first(script.failures, inp.key)
    if error is not None:
        return InstanceResult(success=False, status="failed", error=error, error_type="agent", **common)
    answer = script._first(script.answers, inp.key)
    read_only = inp.task.import_policy == "never"
    if answer is None and read_only:
        answer = f'{{"score": {int(commit_of(inp.run_id, inp.key), 16) % 11}}}' if '"score"' in inp.task.prompt else "No findings."
        if '"winner"' in inp.task.prompt:  # a judge: whichever it was shown first
            answer = '{"winner": "A", "rationale": "the first one"}'
    changed = not read_only and script._first(script.unchanged, inp.key) is None
    commit = commit_of(inp.run_id, inp.key) if changed else BASE_COMMIT
    return InstanceResult(
        success=True, has_changes=changed, commit=commit, final_message=answer or "done",
        branch_name=inp.branch if changed else None, files_changed=int(changed), insertions=int(changed), **common,
    )


@activity.defn(name="verify_commit")
async def verify_commit(inp: VerifyInput) -> VerifyResult:
    script = script_for(inp.run_id)
    script.checks.append(inp)
    checked = next((c.key for c in script.calls if commit_of(c.run_id, c.key) == inp.commit), "")
    passed = script._first(script.failing_checks, inp.command) is None and script._first(script.failing_commits, checked) is None
    tests: dict[str, bool] = {}
    if inp.tests:
        tests = dict(script._first(script.test_outcomes, checked or ("base" if inp.commit == BASE_COMMIT else "")) or {})
        passed = passed and all(tests.values())
    return VerifyResult(passed=passed, exit_code=0 if passed else 1, output_tail="" if passed else "check failed", tests=tests)


@activity.defn(name="commit_diff")
async def commit_diff(inp: DiffInput) -> str:
    """A stand-in diff naming the instance whose commit it is: `diff of candidate/2`."""
    script = script_for(activity.info().workflow_id)
    shown = next((c.key for c in script.calls if commit_of(c.run_id, c.key) == inp.commit), inp.commit)
    return f"diff of {shown}"


SCRIPTED_HOST = "@scripted-host"
"""The scripted worker's host queue is its task queue and this."""


@activity.defn(name="claim_loop_host")
async def claim_loop_host() -> str:
    script = script_for(activity.info().workflow_id)
    if script.lost_hosts > 0:
        script.lost_hosts -= 1
        return "nobody-polls-this-host"
    return activity.info().task_queue + SCRIPTED_HOST


@activity.defn(name="run_iteration")
async def run_iteration(inp: IterationInput) -> IterationOutcome:
    script = script_for(inp.run_id)
    script.iterations.append(inp)
    step = script.steps[min(inp.iteration, len(script.steps)) - 1] if script.steps else {}
    await _wait(step.get("delay"), step.get("hold"))
    if step.get("flaky") and sum(i.iteration == inp.iteration for i in script.iterations) == 1:
        raise RuntimeError("cannot lock ref (a scripted hiccup)")
    key = f"{inp.loop_key}/{inp.iteration}"
    limits = script._first(script.limits, key) or []
    if inp.quota_pauses < len(limits):  # its agent stopped at a provider's limit: the loop's branch where it was
        until = datetime.now(UTC) + timedelta(seconds=limits[inp.quota_pauses]) if limits[inp.quota_pauses] is not None else None
        agent = InstanceResult(
            success=False, status="failed", key=key, error="API Error: Request rejected (429)", error_type="quota", plugin=inp.task.plugin,
            session_id=f"session-{key}", cost_usd=0.01, quota=QuotaPause(until=until, reason="API Error: Request rejected (429)", pauses=inp.quota_pauses + 1),
        )
        unmoved = Snapshot(commit=inp.start_commit, tree="", previous_commit=inp.start_commit, previous_tree="")
        return IterationOutcome(agent=agent, snapshot=unmoved, host=activity.info().task_queue)
    tree = step.get("tree", f"tree-{inp.iteration}")
    previous = _trees.get((inp.run_id, inp.start_commit), "tree-base")
    commit = inp.start_commit if tree == previous else hashlib.sha1(f"{inp.run_id}/{inp.iteration}/{tree}".encode()).hexdigest()
    _trees[(inp.run_id, commit)] = tree
    passed = step.get("passed", [])
    levels = [LevelReport(level=level, passed=level in passed,
                          commands=[CommandReport(command=c, passed=level in passed, exit_code=0 if level in passed else 1,
                                                  output_tail="" if level in passed else f"{c} failed")
                                                                    for c in commands]) for level, commands in inp.levels.items()]
    error = step.get("error")
    agent = InstanceResult(
        success=error is None, status="failed" if error else "success", error=error, key=f"{inp.loop_key}/{inp.iteration}", commit=commit,
        final_message=step.get("output", f"worked on iteration {inp.iteration}"), cost_usd=step.get("cost", 0.0), session_id=step.get("session"),
        duration_seconds=0.01, plugin=inp.task.plugin,
    )
    ci = CommandReport(command=inp.ci, passed=bool(step.get("ci")), exit_code=0 if step.get("ci") else 1) if inp.ci else None
    snapshot = Snapshot(commit=commit, tree=tree, previous_commit=inp.start_commit, previous_tree=previous, files_changed=int(tree != previous))
    return IterationOutcome(agent=agent, snapshot=snapshot, verification=VerificationReport(levels=levels) if levels else None, ci=ci,
                            host=activity.info().task_queue)


_trees: dict[tuple[str, str], str] = {}


@activity.defn(name="finish_loop")
async def finish_loop(run_id: str, loop_key: str, base_commit: str, commit: str) -> CommitStats:
    script_for(run_id).finished.append(activity.info().task_queue)
    return CommitStats(files_changed=int(commit != base_commit))


@activity.defn(name="run_runbook_step")
async def run_runbook_step(inp: StepInput) -> StepOutcome:
    """A pipeline's step: its command "runs" and succeeds, changing nothing (a pipeline's shape and size, not its commands)."""
    return StepOutcome(exit_code=0, stdout=f"ran {inp.label}", commit=inp.start_commit, host=activity.info().task_queue)


HEARTBEAT = {"phase": "scripted"}
"""What a scripted activity's heartbeats carry (the real ones: an InstanceHeartbeat)."""


async def _wait(delay: float | None, hold: asyncio.Event | None) -> None:
    """Heartbeating, as the real activities do: that is how a cancel reaches them."""
    if delay:
        loop = asyncio.get_running_loop()
        ends = loop.time() + float(delay)
        while loop.time() < ends:
            activity.heartbeat(HEARTBEAT)
            await asyncio.sleep(min(0.1, max(ends - loop.time(), 0)))
    while hold is not None and not hold.is_set():  # the real activity's heartbeat timeout is 15 s
        activity.heartbeat(HEARTBEAT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hold.wait(), 0.1)


SCRIPTED_ACTIVITIES = [resolve_base, run_instance, verify_commit, commit_diff, claim_loop_host, run_iteration, finish_loop, run_runbook_step]


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `check` (a function, or one returning an awaitable) until it gives something truthy; that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        value = await value if inspect.isawaitable(value) else value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still not true after {timeout}s"
        await asyncio.sleep(0.02)
