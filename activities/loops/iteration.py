"""`run_iteration`: one loop iteration on the host that holds the loop's workspace.

workspace at the last finished iteration's commit -> the loop's state files -> agent -> snapshot
(what it left uncommitted is committed as the iteration's snapshot) -> verification levels and
`ci` on that commit -> the loop's branch fast-forwarded to it (on a remote: pushed with a lease;
activities/workspaces/branch.py). A commit a lost host pushed for this iteration and never
reported is taken as the iteration's, with no agent run again. The workspace stays for the next
iteration; `remove_loop_workspace` ends it with the loop. A retried iteration whose outcome was
recorded returns it without running the agent again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent_run import RESUME_PROMPT, SESSION_MISSING, AgentPlace, agent_result, bad_input, run_agent
from activities.agents import PluginError, get_plugin
from activities.agents.base import AgentState
from activities.git.branch_import import ImportRefused, commit_stats, diff_stats
from activities.git.objects import objects_dir
from activities.git.origin import open_origin
from activities.git.prompts import PromptMissing, expanded, prompt_refs
from activities.git.untrusted import write_path
from activities.git.workspace import WorkspaceTampered, git_dir_of, ready_agent_git, remove_workspace, take_work, wgit
from activities.heartbeat import heartbeating
from activities.paths import agent_home_dir, instance_dir, running_record
from activities.quota import credential_fingerprint, not_started, pause_for, paused_until, watching_quota
from activities.runners.choice import instance_runner, workspace_owner
from activities.runners.leftovers import kill_orphan
from activities.secrets import redact
from activities.verification.check import Isolation, run_check
from activities.workspaces.branch import advance, unreported
from activities.workspaces.gateway import Published, open_gateway, publish_pushed
from activities.workspaces.host import host_id
from activities.workspaces.kept import LOCAL_BRANCH, loop_workspace, mark_finished, ready_workspace
from workflows.loops.models import LEVELS, CommandReport, IterationInput, IterationOutcome, LevelReport, Snapshot, VerificationReport
from workflows.sdk.models import CommitStats, InstanceHeartbeat, InstanceResult, key_hash8

SNAPSHOT_MESSAGE = "orchard loop: iteration {n} (work the agent left uncommitted)"


class OutcomeRecord(BaseModel):
    fingerprint: str
    outcome: IterationOutcome


def _fingerprint(inp: IterationInput) -> str:
    return hashlib.sha256(inp.model_dump_json().encode()).hexdigest()[:16]


@activity.defn
async def run_iteration(inp: IterationInput) -> IterationOutcome:
    out_dir = instance_dir(inp.run_id, inp.loop_key) / f"iteration-{inp.iteration}"
    out_dir.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / "outcome.json"
    try:
        record = OutcomeRecord.model_validate_json(record_path.read_text())
        if record.fingerprint == _fingerprint(inp):
            return record.outcome
    except (OSError, ValueError):
        pass
    task = inp.task
    origin = await open_origin(inp.repo, inp.start_commit, *prompt_refs(task.prompt))  # the repository, or this host's mirror of the remote
    try:
        plugin = get_plugin(task.plugin)
        task = task.model_copy(update={"prompt": await expanded(origin.read, task.prompt)})
    except (PluginError, PromptMissing) as e:
        raise bad_input(str(e)) from None

    fingerprint = credential_fingerprint(plugin, task)
    paused = await paused_until(fingerprint)
    if paused is not None:  # another run on these credentials hit a limit: no request until it resets; the workspace stays as it is
        agent = not_started(paused, fingerprint, f"{inp.loop_key}/{inp.iteration}", task, inp.resume_session, inp.quota_pauses)
        return IterationOutcome(agent=agent, snapshot=_unmoved(inp.start_commit), host=host_id())

    running = running_record(inp.run_id, f"loop-k{key_hash8(inp.loop_key)}")
    await kill_orphan(running)  # an interrupted try's agent or command, before its workspace is touched
    workspace = loop_workspace(inp.run_id, inp.loop_key)
    place = AgentPlace(
        repo=inp.repo, run_id=inp.run_id, key=f"{inp.loop_key}/{inp.iteration}", workspace=workspace,
        agent_home=agent_home_dir(inp.run_id, inp.loop_key), out_dir=out_dir, base_commit=inp.start_commit, record_path=running,
    )
    # After a pause at a provider's limit the stopped agent's session goes on, in the workspace as it left it.
    session_id = inp.resume_session or inp.session_id
    fresh = task
    if inp.resume_session:
        task = task.model_copy(update={"prompt": RESUME_PROMPT})
    state = AgentState(session_id=session_id)
    phase = "resuming the agent's session" if inp.resume_session else "preparing workspace"

    def progress() -> InstanceHeartbeat:
        return InstanceHeartbeat(
            phase=phase, last_event=redact(state.last_event) or "", input_tokens=state.input_tokens,
            output_tokens=state.output_tokens, cost_usd=state.cost_usd, cost_estimated=state.cost_estimated, session_id=state.session_id,
        )

    started = time.monotonic()
    phases: list[tuple[str, float]] = [(phase, started)]

    def on_phase(now: str) -> None:
        nonlocal phase
        phase = now
        phases.append((now, time.monotonic()))

    async with heartbeating(progress):
        excluded = sorted({str(Path(p).parts[0]) for p in inp.files})
        runner = await instance_runner(task)
        gateway: tuple[Path, dict[str, str]] | None = None

        async def ready() -> str:
            nonlocal gateway
            prepared = await ready_workspace(origin.read, workspace, inp.start_commit, excluded, workspace_owner(runner))
            gateway = await open_gateway(origin, workspace) if inp.publish is not None else None  # after: a workspace made anew drops it
            await ready_agent_git(workspace, LOCAL_BRANCH, excluded, gateway[0] if gateway else None)
            for relative, text in inp.files.items():  # where the last agent may have left a link: not followed
                write_path(workspace, Path(relative).as_posix(), text.encode())
            return prepared

        prepared = await ready()
        taken = await unreported(origin, inp.branch, inp.start_commit, inp.branch_exists)
        if taken is None:
            while True:
                stop = asyncio.Event()
                async with watching_quota(fingerprint, state, stop):  # stopped at the first sign of a limit, or when another run pauses the credentials
                    outcome = await run_agent(plugin, task, place, state, session_id, on_phase, runner, stop_at_limit=True, stop=stop)
                if not (inp.resume_session and session_id == inp.resume_session and state.limit is None and SESSION_MISSING in (state.error or "")):
                    break
                # The paused session was never saved (its agent was stopped before it finished a turn): the iteration starts afresh,
                # from its start (ready() resets the workspace: its marker is gone).
                session_id, task, state = inp.session_id, fresh, AgentState(session_id=inp.session_id)
                prepared = await ready()
            agent = agent_result(task, place, state, outcome, runner, pause_at_limit=True)
            if state.limit is not None:  # a pause, not a failure: the workspace stays as the agent left it, for its resumed session
                agent.quota = await pause_for(fingerprint, inp.quota_pauses, state.limit.reset_at, agent.error or "", inp.run_id)
                if not (state.input_tokens or state.output_tokens):  # refused at its first request: a session with nothing to resume
                    agent.session_id = inp.resume_session
                agent.duration_seconds = round(time.monotonic() - started, 3)
                mark_finished(workspace, inp.start_commit)  # the next try of this iteration keeps it (no reset)
                return IterationOutcome(agent=agent, snapshot=_unmoved(inp.start_commit), host=host_id(), workspace=prepared)
        else:  # a lost host pushed this iteration's work: it is taken, not done again
            await wgit(workspace, "reset", "--quiet", "--hard", taken)
            await ready_agent_git(workspace, LOCAL_BRANCH, excluded, gateway[0] if gateway else None)
            agent = InstanceResult(success=False, key=place.key, base_commit=inp.start_commit, plugin=task.plugin, model=task.model, runner=runner,
                                   final_message=f"(the commit {taken[:12]} a lost host pushed for this iteration, taken as it is)")
        on_phase("snapshot")
        try:
            snapshot, rewritten = await _snapshot(workspace, inp.start_commit, inp.iteration, inp.may_rewrite)
        except WorkspaceTampered as e:
            raise ApplicationError(str(e), type="WorkspaceTampered", non_retryable=True) from None
        head = snapshot.commit
        if rewritten:
            agent.status, agent.error_type = "failed", "agent"
            agent.error = rewritten
        await ready_agent_git(workspace, LOCAL_BRANCH, excluded, gateway[0] if gateway else None)  # verification sees the snapshot
        verification = None
        isolation = Isolation(runner=runner, objects=await objects_dir(origin.read), home=out_dir / "check-home", egress=task.network_egress)
        if inp.levels:
            verification = await _verify(inp, workspace, out_dir, running, on_phase, isolation)
        ci = None
        if inp.ci and (verification is None or verification.passed):
            on_phase("ci")
            ci = await _command(inp.ci, "ci", workspace, out_dir, running, inp.verify_timeout, isolation)
        on_phase("importing")
        published = await publish_pushed(origin, "the agent", inp.publish or [], workspace, gateway[1]) if gateway else Published()
        if head != inp.start_commit:
            try:
                await advance(origin, workspace, inp.branch, inp.start_commit, head, inp.branch_exists, inp.branch_named)
            except ImportRefused as e:
                raise ApplicationError(str(e), type="LoopBranchMoved", non_retryable=True) from None
        agent.success = agent.status == "success"
        agent.commit, agent.branch_name, agent.has_changes = head, inp.branch, snapshot.changed
        agent.files_changed, agent.insertions, agent.deletions = snapshot.files_changed, snapshot.insertions, snapshot.deletions
        agent.duration_seconds = round(time.monotonic() - started, 3)
        ends = [t for _, t in phases[1:]] + [time.monotonic()]
        agent.metrics["phase_seconds"] = {name: round(end - begun, 4) for (name, begun), end in zip(phases, ends, strict=True)}
        result = IterationOutcome(agent=agent, snapshot=snapshot, verification=verification, ci=ci, host=host_id(), workspace=prepared,
                                  published=published.branches,
                                  published_from=published.before, refused=published.refused)
        mark_finished(workspace, head)
        record_path.write_text(OutcomeRecord(fingerprint=_fingerprint(inp), outcome=result).model_dump_json())
        return result


def _unmoved(start: str) -> Snapshot:
    """An iteration paused before its end: the loop's branch where it was."""
    return Snapshot(commit=start, tree="", previous_commit=start, previous_tree="")


async def _snapshot(workspace: Path, start: str, iteration: int, may_rewrite: bool = False) -> tuple[Snapshot, str | None]:
    """The iteration's commit (the agent's HEAD, with what it left uncommitted committed on top) and
    its diff from where the iteration started. A HEAD that does not descend from there (history
    rewritten) is refused unless `may_rewrite`: the workspace goes back to the start, and the reason
    is returned. Three git processes when the agent committed nothing, none of which looks at the
    whole tree of an overlay workspace: this runs every iteration."""
    await take_work(workspace, SNAPSHOT_MESSAGE.format(n=iteration))
    head, tree, start_tree, *parents = (await wgit(workspace, "rev-parse", "HEAD", "HEAD^{tree}", f"{start}^{{tree}}", "HEAD^@")).split()
    rewritten = None
    if head != start and start not in parents and not may_rewrite:  # more than one commit, or not from the start at all
        behind = (await wgit(workspace, "rev-list", "--left-right", "--count", f"{start}...{head}")).split()[0]
        if behind != "0":
            await wgit(workspace, "reset", "--quiet", "--hard", start)
            rewritten = f"the agent rewrote the loop's history (HEAD {head[:12]} does not descend from {start[:12]}); its work was dropped"
            head, tree = start, start_tree
    stats = CommitStats()
    if tree != start_tree:
        stats = await diff_stats(git_dir_of(workspace), start, head)
    snapshot = Snapshot(
        commit=head, tree=tree, previous_commit=start, previous_tree=start_tree,
        files_changed=stats.files_changed, insertions=stats.insertions, deletions=stats.deletions,
    )
    return snapshot, rewritten


async def _verify(inp: IterationInput, workspace: Path, out_dir: Path, running: Path, on_phase: Callable[[str], None],
                  isolation: Isolation) -> VerificationReport:
    """Every configured level in order; once one fails, the levels above it are skipped."""
    levels: list[LevelReport] = []
    failed = False
    for level in LEVELS:
        commands = inp.levels.get(level)
        if commands is None:
            continue
        if failed:
            levels.append(LevelReport(level=level, passed=False, skipped=True))
            continue
        on_phase(f"verifying {level}")
        reports = []
        for i, command in enumerate(commands):
            report = await _command(command, f"{level}-{i + 1}", workspace, out_dir, running, inp.verify_timeout, isolation)
            reports.append(report)
            if not report.passed:
                break
        passed = all(r.passed for r in reports) and len(reports) == len(commands)
        levels.append(LevelReport(level=level, passed=passed, commands=reports))
        failed = not passed
    return VerificationReport(levels=levels)


async def _command(command: str, name: str, workspace: Path, out_dir: Path, running: Path, timeout: float, isolation: Isolation) -> CommandReport:
    check = await run_check(command, workspace, out_dir / f"{name}.log", running, timeout, isolation)
    return CommandReport(
        command=command, passed=check.passed, exit_code=check.exit_code, duration_seconds=check.duration_seconds,
        output_tail="" if check.passed else check.output_tail,
    )


@activity.defn
async def finish_loop(run_id: str, loop_key: str, base_commit: str, commit: str) -> CommitStats:
    """The loop is over (or canceled): what it changed since the base, then its workspace and its
    agent's home go."""
    await kill_orphan(running_record(run_id, f"loop-k{key_hash8(loop_key)}"))
    workspace = loop_workspace(run_id, loop_key)
    stats = CommitStats()
    if (git_dir_of(workspace) / "HEAD").is_file():
        stats = await commit_stats(git_dir_of(workspace), base_commit, commit)
    await remove_workspace(workspace)
    await remove_workspace(agent_home_dir(run_id, loop_key))
    return stats
