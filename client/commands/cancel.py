"""`orchard cancel RUN`: agents stop, workspaces are removed, the run ends as canceled."""

from __future__ import annotations

import argparse

from client.errors import EXIT_SUCCESS, UsageError
from client.runs import find_run, target_for
from client.snapshots import outcome_of


async def cmd_cancel(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await find_run(target, args.run_id)
    if not run.running:
        raise UsageError(f"run {args.run_id} is already {run.desc.status.name.lower() if run.desc.status else 'closed'}; nothing to cancel")
    await run.handle.cancel()
    outcome = await outcome_of(run.handle)
    print(f"run {args.run_id}: {outcome.status}; its agents were stopped and their workspaces removed")
    return EXIT_SUCCESS
