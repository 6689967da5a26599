"""`verify_commit`: run a verification command (e.g. `pytest -q`) on a checkout of a commit."""

from __future__ import annotations

import re

from temporalio import activity

from activities.agents.base import AgentCommand
from activities.git.workspace import prepare_workspace, remove_workspace
from activities.heartbeat import heartbeating
from activities.paths import run_dir, running_record, workspaces_dir
from activities.runners.local import kill_orphan, run_process
from activities.secrets import redact
from workflows.sdk.models import VerifyInput, VerifyResult

OUTPUT_TAIL = 2000


@activity.defn
async def verify_commit(inp: VerifyInput) -> VerifyResult:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", inp.label)
    workspace = workspaces_dir(inp.run_id) / slug
    log_dir = run_dir(inp.run_id) / "verify"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{slug}.log"
    log.write_text(f"$ {inp.command}\n")
    record = running_record(inp.run_id, f"verify-{slug}")
    await kill_orphan(record)  # left running by a worker that died during an earlier attempt

    try:
        async with heartbeating(lambda: inp.label):
            await prepare_workspace(inp.repo, inp.commit, workspace, "orchard-verify")
            outcome = await run_process(
                AgentCommand(argv=["bash", "-c", inp.command]),
                cwd=workspace,
                timeout=inp.timeout,
                on_line=lambda line: None,
                transcript=log,
                record_path=record,
                leftovers=[workspace],
            )
    finally:
        await remove_workspace(workspace)
    tail = redact(log.read_text()[-OUTPUT_TAIL:]) or ""
    return VerifyResult(
        passed=outcome.exit_code == 0 and not outcome.timed_out,
        exit_code=None if outcome.timed_out else outcome.exit_code,
        output_tail=tail,
        log_path=str(log),
        duration_seconds=round(outcome.duration_seconds, 3),
    )
