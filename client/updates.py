"""Sending a person's update to a running run (`orchard answer`, `orchard loop ...`).

The run's worker takes it (embedded: restarted if it is gone; a named server: one must poll). The
run's validator refuses what it cannot take, and the run is unchanged: one line, exit 2. An
accepted update, and who sent it (the OS user), are in the run's history.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from client.errors import UsageError
from client.runs import ensure_served, find_run, target_for


async def send_update(args: argparse.Namespace, update: str, request: BaseModel, result_type: type, refused: str, waits_for: str) -> Any:
    target = await target_for(args.address, args.namespace, args.config)
    run = await find_run(target, args.run_id)
    if not run.running:
        raise UsageError(f"run {args.run_id} is {run.desc.status.name.lower() if run.desc.status else 'closed'}; it waits for no {waits_for}")
    await ensure_served(target, run.memo.get("task_queue") or run.desc.task_queue, run.memo.get("strategy_spec"), None, run.memo.get("worker_modules"))
    try:
        return await run.handle.execute_update(update, request, result_type=result_type)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        raise UsageError(f"{refused}: {cause.message if isinstance(cause, ApplicationError) else cause or e}") from None
    except RPCError as e:
        raise UsageError(f"run {args.run_id} takes no {waits_for} ({e.message})") from None
