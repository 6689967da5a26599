"""`orchard watch RUN`: follow a run until it ends; exits with the run's exit code."""

from __future__ import annotations

import argparse
import sys

from client.credentials import credentials_from
from client.errors import DETACHED_EXIT
from client.follow import follow_and_report
from client.render import output_mode
from client.repository import clone_here, report_fetched
from client.request import GivenCredentials
from client.runs import NoWorker, ensure_served, find_run, target_for
from workflows.sdk.models import is_remote_repo


async def cmd_watch(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await find_run(target, args.run_id)
    if run.running:
        try:  # embedded: (re)starts the run's worker; a named server: says if none polls
            credentials = credentials_from(GivenCredentials(args.api_key, args.oauth_token, args.base_url), run.memo.get("plugin", "command"))
            await ensure_served(target, run.memo.get("task_queue") or run.desc.task_queue, run.memo.get("strategy_spec"), credentials,
                                run.memo.get("worker_modules"))
        except NoWorker as e:
            print(f"orchard: warning: {e}; the run waits until one does", file=sys.stderr)
    code = await follow_and_report(target, args.run_id, output_mode(args.output), f"{run.desc.workflow_type} run {args.run_id}", keep_waiting=args.keep_waiting)
    clone = clone_here(run.memo.get("repo", "")) if is_remote_repo(run.memo.get("repo", "")) and code != DETACHED_EXIT else None
    if clone is not None:  # a run on a remote, watched from a clone of it: its branches come here
        await report_fetched(clone, args.run_id)
    return code
