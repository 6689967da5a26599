"""`orchard answer RUN CHOICE [--note TEXT] [--question KEY]`: answer a run that waits for a person.

The answer is a Temporal update: the run's validator refuses a choice not offered, a question
already answered or a run that asks nothing, and the run is unchanged; an accepted answer and who
gave it (the OS user) are recorded in the run's history.
"""

from __future__ import annotations

import argparse
import getpass

from client.errors import EXIT_SUCCESS
from client.updates import send_update
from workflows.sdk.models import Answer, AnswerRequest


async def cmd_answer(args: argparse.Namespace) -> int:
    request = AnswerRequest(choice=args.choice, note=args.note or "", by=getpass.getuser(), key=args.question)
    answer: Answer = await send_update(args, "answer", request, Answer, "answer refused", "answer")
    note = f" ({answer.note})" if answer.note else ""
    print(f"run {args.run_id}: {answer.key} answered {answer.choice!r} by {answer.by}{note}")
    return EXIT_SUCCESS
