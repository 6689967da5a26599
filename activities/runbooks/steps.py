"""`run_runbook_step`: one command of a pipeline run, in the pipeline's workspace on its host.

The workspace is the one a pipeline's agent phases use too (activities/workspaces/kept.py: kept
across steps, reset to the last finished step's commit when a try was interrupted, checked out afresh
on a new host). Its `origin` is a gateway to the user's repository (activities/workspaces/gateway.py): what
the command pushes there is applied to the branches the pipeline publishes. What the command left
uncommitted is committed, and the pipeline's branch moves to where the step left HEAD. On a
remote, the workspace is checked out from this host's mirror, the gateway shows the remote's
branches, and the branch and what is published are pushed with leases (a step redone after its
host was lost pushes over what that host pushed and never reported).
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agents.base import AgentCommand
from activities.coordination.semaphores import until_fresh
from activities.git.branch_import import ImportRefused
from activities.git.origin import open_origin
from activities.git.workspace import WorkspaceTampered, ready_agent_git, take_work, wgit
from activities.heartbeat import heartbeating
from activities.paths import instance_dir, running_record
from activities.runners.leftovers import kill_orphan
from activities.runners.local import run_process
from activities.secrets import redact
from activities.workspaces.branch import advance, unreported
from activities.workspaces.gateway import open_gateway, publish_pushed
from activities.workspaces.host import host_id
from activities.workspaces.kept import LOCAL_BRANCH, loop_workspace, mark_finished, ready_workspace
from workflows.runbooks.steps import StepInput, StepOutcome
from workflows.sdk.models import InstanceHeartbeat, key_hash8

STDOUT_LIMIT = 8192
TAIL_LIMIT = 2000


class _Record(BaseModel):
    fingerprint: str
    outcome: StepOutcome


def _fingerprint(inp: StepInput) -> str:
    return hashlib.sha256(inp.model_dump_json(exclude={"attempt_key"}).encode()).hexdigest()[:16]


async def protected_changes(workspace: Path, start: str, head: str, protected: list[str]) -> list[str]:
    """The files changed between `start` and `head` that lie under a protected path (`.` protects no file)."""
    paths = [p for p in (posixpath.normpath(p) for p in protected) if p != "."]
    if not paths:
        return []
    listed = await wgit(workspace, "diff", "--name-only", "--no-renames", "-z", start, head, "--", *paths)
    return [name for name in listed.split("\0") if name]


@activity.defn
async def run_runbook_step(inp: StepInput) -> StepOutcome:
    out_dir = instance_dir(inp.run_id, inp.key) / "steps"
    out_dir.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / f"{inp.step}.json"
    try:
        record = _Record.model_validate_json(record_path.read_text())
        if record.fingerprint == _fingerprint(inp):
            return record.outcome  # a retry of a step that finished
    except (OSError, ValueError):
        pass
    running = running_record(inp.run_id, f"loop-k{key_hash8(inp.key)}")
    await kill_orphan(running)
    workspace = loop_workspace(inp.run_id, inp.key)
    phase = f"{inp.label}: checking that its locks are still held"
    async with heartbeating(lambda: InstanceHeartbeat(phase=phase)):
        await until_fresh(inp.leases)
        phase = f"{inp.label}: preparing the workspace"
        origin = await open_origin(inp.repo, inp.start_commit)  # the repository, or this host's mirror of the remote
        await ready_workspace(origin.read, workspace, inp.start_commit, [])
        over = await unreported(origin, inp.branch, inp.start_commit, inp.branch_exists)
        gateway, shown = await open_gateway(origin, workspace)
        await ready_agent_git(workspace, LOCAL_BRANCH, remote=gateway)
        phase = f"{inp.label}: $ {inp.command[:80]}"
        lines: list[str] = []
        log = out_dir / f"{inp.step}.log"
        where = (workspace / inp.cwd).resolve()  # a value in `cwd`, or a link an agent left, must not lead out
        if not where.is_relative_to(workspace.resolve()):
            raise ApplicationError(f"{inp.label}: its cwd {inp.cwd!r} leads out of the pipeline's workspace", type="BadInput", non_retryable=True)
        started = time.monotonic()
        outcome = await run_process(
            AgentCommand(argv=["bash", "-c", inp.command], env=inp.env), cwd=where, timeout=inp.timeout,
            on_line=lines.append, transcript=log, record_path=running, leftovers=[workspace],
        )
        duration = round(time.monotonic() - started, 3)
        head = inp.start_commit
        if inp.kind in ("run", "attempt", "rollback"):
            try:
                head = await take_work(workspace, f"orchard runbook: {inp.label} (what it left uncommitted)")
            except WorkspaceTampered as e:
                raise ApplicationError(f"{inp.label}: {e}", type="WorkspaceTampered", non_retryable=True) from None
        published = await publish_pushed(origin, inp.label, inp.publish, workspace, shown)
        refused = published.refused
        touched = await protected_changes(workspace, inp.start_commit, head, inp.protected) if head != inp.start_commit else []
        if touched:  # what it did is discarded: the pipeline goes on (or fails) from where the step started
            refused = (f"{inp.label} changed {', '.join(touched[:5])}{' and more' if len(touched) > 5 else ''}, which [safety] protects "
                       f"(protected = [{', '.join(inp.protected)}]); nothing it did was kept")
            await wgit(workspace, "reset", "--quiet", "--hard", inp.start_commit)
            head = inp.start_commit
        changed = head != inp.start_commit
        if changed or (over and inp.branch_exists):  # a step that changed nothing moves its branch back from a lost host's push
            try:
                await advance(origin, workspace, inp.branch, inp.start_commit, head, inp.branch_exists, inp.branch_named, over)
            except ImportRefused as e:
                refused = str(e)
        stdout = "\n".join(lines).strip()
        result = StepOutcome(
            exit_code=None if outcome.timed_out else outcome.exit_code, stdout=redact(stdout[-STDOUT_LIMIT:]) or "",
            output_tail=redact(log.read_text(errors="replace")[-TAIL_LIMIT:]) or "", duration_seconds=duration,
            commit=head, changed=changed, published=published.branches, published_from=published.before, refused=refused, host=host_id(),
        )
        mark_finished(workspace, head)
        record_path.write_text(_Record(fingerprint=_fingerprint(inp), outcome=result).model_dump_json())
        return result
