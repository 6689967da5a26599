"""`run_instance`: one agent instance, end to end, on the host that holds its workspace.

workspace (git) -> agent (plugin + local or docker runner) -> import branch -> cleanup, heartbeating all
along; once the result is recorded, the cleanup goes on after the activity returns
(activities/workspaces/removals.py). Agent failures come back as a failed InstanceResult (final); infrastructure errors raise
and Temporal retries them. A retried instance whose branch already holds this task's result
returns that result without running the agent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.agent_run import RESUME_PROMPT, SESSION_MISSING, AgentPlace, agent_result, bad_input, run_agent
from activities.agents import PluginError, get_plugin
from activities.agents.base import AgentState
from activities.git.ancestry import commits_above
from activities.git.branch_import import ImportRefused, commit_stats, ensure_branch, import_branch, should_import, workspace_head
from activities.git.objects import move_loose_objects, objects_dir
from activities.git.origin import Origin, open_origin
from activities.git.prompts import PromptMissing, expanded, prompt_refs
from activities.git.workspace import git_dir_of, prepare_workspace, remove_workspace
from activities.heartbeat import FIRST_BEAT_AFTER, heartbeating
from activities.paths import agent_home_dir, instance_dir, running_record, workspaces_dir
from activities.quota import credential_fingerprint, not_started, pause_for, paused_until, watching_quota
from activities.runners.choice import instance_runner, workspace_owner
from activities.runners.leftovers import kill_orphan
from activities.secrets import redact
from activities.spend import reporting_spend
from activities.timeline import mark
from activities.workspaces.removals import remove_later, removed
from workflows.sdk.models import InstanceHeartbeat, InstanceInput, InstanceResult, key_hash8

RESULT_FILE = "result.json"
INTENT_FILE = "import-intent.json"


class ResultRecord(BaseModel):
    """What an instance leaves in its results folder, so a retry can return it instead of rerunning."""

    fingerprint: str
    result: InstanceResult


class ImportIntent(BaseModel):
    """Written just before the branch is created: proof that a branch at `commit` is this task's."""

    fingerprint: str
    commit: str


def _previous_session(details: Sequence[Any]) -> str | None:
    """The agent session id the last attempt reported in its heartbeats, if any."""
    try:
        return InstanceHeartbeat.model_validate(details[0]).session_id if details else None
    except ValueError:
        return None


async def _recorded_result(inp: InstanceInput, origin: Origin, record_path: Path) -> InstanceResult | None:
    """This task's result if an earlier attempt finished it: from its record, or from its branch
    when the attempt died between creating the branch and recording the result."""
    try:
        record = ResultRecord.model_validate_json(record_path.read_text())
    except (OSError, ValueError):
        record = None
    if record is not None and record.fingerprint == inp.task.fingerprint():
        result = record.result
        if not (result.branch_name and result.commit) or await ensure_branch(origin, result.branch_name, result.commit):
            return result
    try:
        intent = ImportIntent.model_validate_json((record_path.parent / INTENT_FILE).read_text())
    except (OSError, ValueError):
        return None
    head = await origin.branch(inp.branch)
    base = inp.base_commit or await origin.resolve(inp.task.base_branch)
    if intent.fingerprint != inp.task.fingerprint() or head is None or head != intent.commit or base is None:
        return None
    stats = await commit_stats((await origin.holding(head)).read, base, head)
    return InstanceResult(
        success=True,
        key=inp.key,
        branch_name=inp.branch,
        commit=head,
        base_commit=base,
        has_changes=head != base,
        commit_statistics=stats,
        files_changed=stats.files_changed,
        insertions=stats.insertions,
        deletions=stats.deletions,
        plugin=inp.task.plugin,
        model=inp.task.model,
        artifacts_dir=str(record_path.parent),
        recovered_from_branch=True,
    )


@activity.defn
async def run_instance(inp: InstanceInput) -> InstanceResult:
    info = activity.info()
    mark("activity: started")
    out_dir = instance_dir(inp.run_id, inp.key)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / RESULT_FILE
    origin = await open_origin(inp.repo, *([inp.base_commit] if inp.base_commit else []), *prompt_refs(inp.task.prompt))
    recorded = await _recorded_result(inp, origin, record_path)
    if recorded is not None:
        activity.logger.info("instance %s already done on %s; not running the agent again", inp.key, recorded.branch_name)
        return recorded

    task = inp.task
    base_commit = inp.base_commit or await origin.resolve(task.base_branch)
    if base_commit is None:
        raise bad_input(f"base branch {task.base_branch!r} does not exist in {inp.repo}")
    try:
        plugin = get_plugin(task.plugin)
        task = task.model_copy(update={"prompt": await expanded(origin.read, task.prompt)})  # a long prompt came by reference
    except (PluginError, PromptMissing) as e:
        raise bad_input(str(e)) from None

    fingerprint = credential_fingerprint(plugin, task)
    paused = await paused_until(fingerprint)
    if paused is not None:  # another run on these credentials hit a limit: no request until it resets
        return not_started(paused, fingerprint, inp.key, task, inp.resume_session, inp.quota_pauses)

    running = running_record(inp.run_id, f"k{key_hash8(inp.key)}")
    await removed(workspaces_dir(inp.run_id) / f"k{key_hash8(inp.key)}")  # an earlier attempt's, still under way
    await kill_orphan(running)  # what an earlier attempt left running, before its workspace is touched
    # One workspace per key, kept across attempts: a retry resumes the agent's session in it.
    workspace = workspaces_dir(inp.run_id) / f"k{key_hash8(inp.key)}"
    agent_home = agent_home_dir(inp.run_id, inp.key)
    session_id = (_previous_session(info.heartbeat_details) or inp.resume_session) if workspace.is_dir() else None
    fresh = task
    if session_id:
        task = task.model_copy(update={"prompt": RESUME_PROMPT})

    state = AgentState(session_id=session_id)
    phase = "resuming the agent's session" if session_id else "preparing workspace"

    def progress() -> InstanceHeartbeat:
        return InstanceHeartbeat(
            phase=phase,
            last_event=redact(state.last_event) or "",
            input_tokens=state.input_tokens,
            output_tokens=state.output_tokens,
            cost_usd=state.cost_usd,
            cost_estimated=state.cost_estimated,
            session_id=state.session_id,
        )

    started = time.monotonic()
    keep = recorded_now = False
    try:
        async with heartbeating(progress, FIRST_BEAT_AFTER):
            runner = await instance_runner(task)
            mark("activity: runner chosen")
            if not session_id:
                await prepare_workspace(origin.read, base_commit, workspace, inp.branch, owner=workspace_owner(runner))
            mark("activity: workspace ready")
            place = AgentPlace(
                repo=origin.read, run_id=inp.run_id, key=inp.key, workspace=workspace, agent_home=agent_home, out_dir=out_dir,
                base_commit=base_commit, record_path=running,
            )

            def on_phase(now: str) -> None:
                nonlocal phase
                phase = now

            while True:
                stop = asyncio.Event()
                async with reporting_spend(inp.run_id, inp.key, state, shared=inp.shared_budget) if inp.report_spend else contextlib.nullcontext(), \
                        watching_quota(fingerprint, state, stop):
                    outcome = await run_agent(plugin, task, place, state, session_id, on_phase, runner, stop_at_limit=True, stop=stop)
                mark("activity: agent done")
                if not (session_id and state.limit is None and SESSION_MISSING in (state.error or "")):
                    break
                # The session to resume was never saved (its agent was stopped before it finished a turn): start afresh.
                session_id, task, state = None, fresh, AgentState()
                await prepare_workspace(origin.read, base_commit, workspace, inp.branch, owner=workspace_owner(runner))
            result = agent_result(task, place, state, outcome, runner, pause_at_limit=True)
            if state.limit is not None:  # a pause, not a failure: the workspace waits for the resumed session
                keep = True
                result.quota = await pause_for(fingerprint, inp.quota_pauses, state.limit.reset_at, result.error or "", inp.run_id)
                if not (state.input_tokens or state.output_tokens):  # refused at its first request: a session with nothing to resume
                    result.session_id = inp.resume_session
                result.duration_seconds = round(time.monotonic() - started, 3)
                return result
            if result.status == "success":  # the agent did not fail: import its work
                phase = "importing"
                await _import(inp, origin, workspace, base_commit, result, out_dir)
                mark("activity: imported")
            result.duration_seconds = round(time.monotonic() - started, 3)
            record_path.write_text(ResultRecord(fingerprint=inp.task.fingerprint(), result=result).model_dump_json(indent=2))
            recorded_now = True
            return result
    finally:
        if recorded_now:  # no retry needs them: removed after the result is on its way (activities/workspaces/removals.py)
            remove_later(f"{inp.run_id}.k{key_hash8(inp.key)}", workspace, agent_home)
        elif not keep and not activity.is_worker_shutdown():  # kept for a retry on a restarted worker to resume in
            await remove_workspace(workspace)
            await remove_workspace(agent_home)


async def _import(inp: InstanceInput, origin: Origin, workspace: Path, base_commit: str, result: InstanceResult, out_dir: Path) -> None:
    """Fill the result's commit and stats, and import the branch as the task's policy says."""
    task = inp.task
    try:
        head = await workspace_head(workspace, base_commit)
        git_dir = git_dir_of(workspace)
        result.commit = head
        result.has_changes = head != base_commit
        importing = should_import(task.import_policy, result.has_changes, task.skip_empty_import)
        if importing and not origin.remote:  # the objects where the branch will need them, before git reads them for the stats
            move_loose_objects(git_dir, await objects_dir(origin.read))
        # The stats (a git process) while the branch is made (another): the last instance's import is on the run's path.
        stats = asyncio.ensure_future(commit_stats(git_dir, base_commit, head, commits_above(git_dir, base_commit, head)))
        try:
            if importing:
                intent = ImportIntent(fingerprint=task.fingerprint(), commit=head)
                (out_dir / INTENT_FILE).write_text(intent.model_dump_json())
                result.branch_name = await import_branch(origin, workspace, head, inp.branch, task.import_conflict_policy)
        finally:
            result.commit_statistics = await stats
            result.files_changed, result.insertions, result.deletions = (result.commit_statistics.files_changed, result.commit_statistics.insertions,
                                                                         result.commit_statistics.deletions)
        result.success, result.status = True, "success"
    except ImportRefused as e:
        result.status, result.error_type, result.error = "failed", "import", str(e)
