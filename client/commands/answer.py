"""`orchard answer RUN CHOICE [--note TEXT] [--question KEY]`: answer a run that waits for a person.

The answer is a Temporal update: the run's validator refuses a choice not offered, a question
already answered or a run that asks nothing, and the run is unchanged; an accepted answer and who
gave it (the OS user) are recorded in the run's history.
"""

from __future__ import annotations

import argparse
import getpass

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from client.errors import EXIT_SUCCESS, UsageError
from client.runs import ensure_served, find_run, target_for
from workflows.sdk.models import Answer, AnswerRequest


async def cmd_answer(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await find_run(target, args.run_id)
    if not run.running:
        raise UsageError(f"run {args.run_id} is {run.desc.status.name.lower() if run.desc.status else 'closed'}; it waits for no answer")
    # The run's worker takes the answer (embedded: restarted if it is gone; a named server: one must poll).
    await ensure_served(target, run.memo.get("task_queue") or run.desc.task_queue, run.memo.get("strategy_spec"))
    request = AnswerRequest(choice=args.choice, note=args.note or "", by=getpass.getuser(), key=args.question)
    try:
        answer = await run.handle.execute_update("answer", request, result_type=Answer)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        raise UsageError(f"answer refused: {cause.message if isinstance(cause, ApplicationError) else cause or e}") from None
    except RPCError as e:
        raise UsageError(f"run {args.run_id} takes no answers ({e.message})") from None
    note = f" ({answer.note})" if answer.note else ""
    print(f"run {args.run_id}: {answer.key} answered {answer.choice!r} by {answer.by}{note}")
    return EXIT_SUCCESS
