"""`run_runbook_step`: one command of a pipeline run, in the pipeline's workspace on its host.

The workspace is the one a pipeline's agent phases use too (activities/loops/: kept across steps,
reset to the last finished step's commit when a try was interrupted, checked out afresh on a new
host). Its `origin` is a gateway: a bare repository beside it that borrows the user's objects and
shows their branches as they are when the step starts. A command may fetch from it and push to
it; afterwards the branches it pushed are applied to the user's repository if the pipeline
publishes them (compare-and-swap against what the gateway showed) and refused otherwise, and a
branch checked out in the user's working tree is never moved. What the command left uncommitted
is committed, and the pipeline's branch moves to where the step left HEAD.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity

from activities.agents.base import AgentCommand
from activities.coordination.semaphores import until_fresh
from activities.git.branch_import import ImportRefused, advance_branch
from activities.git.command import GitError, git, git_bytes
from activities.git.objects import move_loose_objects
from activities.git.workspace import objects_dir
from activities.heartbeat import heartbeating
from activities.loops.host import host_id
from activities.loops.iteration import loop_workspace
from activities.loops.workspace import mark_finished, ready_workspace
from activities.paths import instance_dir, running_record
from activities.runners.local import kill_orphan, run_process
from activities.secrets import redact
from workflows.runbooks.steps import StepInput, StepOutcome
from workflows.sdk.models import InstanceHeartbeat, key_hash8

STDOUT_LIMIT = 8192
TAIL_LIMIT = 2000
ZERO_OID = "0" * 40


class _Record(BaseModel):
    fingerprint: str
    outcome: StepOutcome


def _fingerprint(inp: StepInput) -> str:
    return hashlib.sha256(inp.model_dump_json(exclude={"attempt_key"}).encode()).hexdigest()[:16]


async def _branches(repo: str | Path) -> dict[str, str]:
    listed = await git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", cwd=repo)
    return dict(line.split(" ", 1) for line in listed.splitlines() if line)


async def _gateway(repo: str, workspace: Path) -> tuple[Path, dict[str, str]]:
    """The workspace's `origin`, showing the user's branches as they are now; and those branches."""
    gateway = workspace.parent / f"{workspace.name}-origin.git"
    if not (gateway / "HEAD").is_file():
        await git("init", "--quiet", "--bare", str(gateway), cwd=workspace.parent)
        (gateway / "objects" / "info" / "alternates").write_text(f"{await objects_dir(repo)}\n")
        await git("remote", "remove", "origin", cwd=workspace, check=False)
        await git("remote", "add", "origin", str(gateway), cwd=workspace)
    theirs = await _branches(repo)
    ours = await _branches(gateway)
    lines = [f"delete {ref}\n" for ref in ours if ref not in theirs] + [f"update {ref} {sha}\n" for ref, sha in theirs.items() if ours.get(ref) != sha]
    if lines:
        await git_bytes("update-ref", "--stdin", cwd=gateway, input="".join(lines).encode())
    return gateway, theirs


async def _checked_out(repo: str) -> str | None:
    """The branch checked out in the user's working tree (None: bare, or a detached HEAD)."""
    if await git("rev-parse", "--is-bare-repository", cwd=repo) == "true":
        return None
    head = await git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False)
    return head or None


async def _publish(inp: StepInput, gateway: Path, shown: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Apply what the step pushed to the gateway to the user's repository, or say why not."""
    now = await _branches(gateway)
    pushed = {ref: sha for ref, sha in now.items() if shown.get(ref) != sha} | {ref: ZERO_OID for ref in shown if ref not in now}
    if not pushed:
        return {}, None
    names = {ref.removeprefix("refs/heads/"): ref for ref in pushed}
    foreign = sorted(name for name in names if name not in inp.publish)
    if foreign:
        allowed = ", ".join(inp.publish) or "nothing"
        return {}, f"{inp.label} pushed {', '.join(foreign)}, which the pipeline does not publish (publish = [{allowed}]); nothing it pushed was applied"
    checked_out = await _checked_out(inp.repo)
    if checked_out in pushed:
        name = checked_out.removeprefix("refs/heads/")
        return {}, (f"{inp.label} pushed {name}, which is checked out in {inp.repo}: Orchard never moves a branch under your working tree; "
                    f"switch that checkout to another branch (or publish to a bare repository)")
    if not move_loose_objects(gateway, await objects_dir(inp.repo)):
        await git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(gateway), *(s for s in pushed.values() if s != ZERO_OID), cwd=inp.repo)
    script = "".join(f"update {ref} {sha} {shown.get(ref, ZERO_OID)}\n" for ref, sha in pushed.items())
    try:
        await git_bytes("update-ref", "--stdin", cwd=inp.repo, input=f"start\n{script}commit\n".encode())
    except GitError:
        return {}, f"{inp.label} pushed {', '.join(names)}, but someone moved {'it' if len(names) == 1 else 'them'} in {inp.repo} meanwhile; nothing was applied"
    return {name: pushed[ref] for name, ref in names.items()}, None


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
        await ready_workspace(inp.repo, workspace, inp.start_commit, [])
        gateway, shown = await _gateway(inp.repo, workspace)
        phase = f"{inp.label}: $ {inp.command[:80]}"
        lines: list[str] = []
        log = out_dir / f"{inp.step}.log"
        started = time.monotonic()
        outcome = await run_process(
            AgentCommand(argv=["bash", "-c", inp.command], env=inp.env), cwd=workspace / inp.cwd, timeout=inp.timeout,
            on_line=lines.append, transcript=log, record_path=running, leftovers=[workspace],
        )
        duration = round(time.monotonic() - started, 3)
        head, changed = inp.start_commit, False
        if inp.kind in ("run", "attempt", "rollback"):
            if await git("status", "--porcelain", cwd=workspace):
                await git("add", "-A", cwd=workspace)
                await git("commit", "--quiet", "--no-verify", "-m", f"orchard runbook: {inp.label} (what it left uncommitted)", cwd=workspace)
            head = await git("rev-parse", "HEAD", cwd=workspace)
        published, refused = await _publish(inp, gateway, shown)
        if head != inp.start_commit:
            changed = True
            try:
                await advance_branch(inp.repo, workspace, inp.branch, inp.start_commit, head, inp.branch_exists)
            except ImportRefused as e:
                refused = str(e)
        stdout = "\n".join(lines).strip()
        result = StepOutcome(
            exit_code=None if outcome.timed_out else outcome.exit_code, stdout=redact(stdout[-STDOUT_LIMIT:]) or "",
            output_tail=redact(log.read_text(errors="replace")[-TAIL_LIMIT:]) or "", duration_seconds=duration,
            commit=head, changed=changed, published=published, refused=refused, host=host_id(),
        )
        mark_finished(workspace, head)
        record_path.write_text(_Record(fingerprint=_fingerprint(inp), outcome=result).model_dump_json())
        return result
