"""`verify_commit`: run a verification command (e.g. `pytest -q`) on a checkout of a commit."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil

from temporalio import activity

from activities.git.objects import objects_dir
from activities.git.origin import open_origin
from activities.git.workspace import prepare_workspace, remove_workspace
from activities.heartbeat import heartbeating
from activities.paths import run_dir, running_record, workspaces_dir
from activities.runners.leftovers import kill_orphan
from activities.verification.check import Isolation, run_check
from activities.verification.tests import base_harness, bring_in, outcomes, report_command
from workflows.sdk.models import VerifyInput, VerifyResult


@activity.defn
async def verify_commit(inp: VerifyInput) -> VerifyResult:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", inp.label)
    workspace = workspaces_dir(inp.run_id) / slug
    log_dir = run_dir(inp.run_id) / "verify"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{slug}.log"
    record = running_record(inp.run_id, f"verify-{slug}")
    await kill_orphan(record)  # left running by a worker that died during an earlier attempt
    home = workspaces_dir(inp.run_id) / f".{slug}.home"
    """The sandboxed command's home."""

    try:
        async with heartbeating(lambda: inp.label):
            origin = await open_origin(inp.repo, inp.commit, *(s.commit for s in inp.tests))
            await prepare_workspace(origin.read, inp.commit, workspace, "orchard-verify")
            command, skipped = inp.command, list[str]()
            isolation = Isolation(runner=inp.runner, objects=await objects_dir(origin.read), home=home, egress=inp.network_egress)
            if inp.tests:
                restored = await base_harness(workspace, inp.commit, inp.tests)
                folders, skipped = await bring_in(workspace, inp.tests)
                skipped = restored + skipped
                command = report_command(inp.command, folders) if folders else "echo 'no test was brought in'; false"
                isolation = dataclasses.replace(isolation, egress="offline")  # a test writer's tests need no network
            check = await run_check(command, workspace, log, record, inp.timeout, isolation)
            tests = outcomes(log, inp.tests) if inp.tests else {}
    finally:
        await remove_workspace(workspace)
        await asyncio.to_thread(shutil.rmtree, home, True)
    tail = check.output_tail if not skipped else "\n".join(skipped) + "\n" + check.output_tail
    return VerifyResult(
        passed=check.passed, exit_code=check.exit_code, output_tail=tail, log_path=str(log), duration_seconds=check.duration_seconds, tests=tests,
    )
