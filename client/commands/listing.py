"""`orchard list`: runs from Temporal visibility, filtered by strategy, repository and status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TypedDict

from client.errors import EXIT_SUCCESS
from client.landing.record import Landing, landed_runs
from client.runs import target_for
from workflows.sdk.models import is_remote_repo
from workflows.sdk.visibility import SA_OUTCOME, SA_REPO, SA_WAITING

LIST_STATUSES = ("running", "success", "partial", "failed", "stopped", "canceled", "terminated", "timed_out")


class Listed(TypedDict):
    """One run as `orchard list` shows it (a line of `--output json`)."""

    run_id: str
    strategy: str
    status: str
    started: str | None
    repo: str | None
    waiting: bool
    parent: str | None
    landed: list[str]
    """The branches `orchard land` landed it on (the record in its repository, client/landing/record.py)."""


async def cmd_list(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    clauses = []
    if args.strategy:
        clauses.append(f'OrchardStrategy = "{args.strategy}"')
    if args.repo:
        clauses.append(f'OrchardRepo = "{args.repo if is_remote_repo(args.repo) else Path(args.repo).resolve()}"')
    if args.pipeline:
        clauses.append(f'OrchardPipeline = "{args.pipeline}"')
    if args.status in ("success", "partial", "failed", "stopped"):
        clauses.append(f'OrchardOutcome = "{args.status}"')
    elif args.status:
        clauses.append(f'ExecutionStatus = "{"".join(w.capitalize() for w in args.status.split("_"))}"')
    if args.waiting:
        clauses.append("OrchardWaiting = true")
    if not args.children:  # a child strategy's run is listed with its parent's (orchard show PARENT)
        clauses.append("ParentWorkflowId IS NULL")
    # Runs only, not rotations; a run continued as new is listed once, by its latest run.
    query = " AND ".join(["OrchardStrategy IS NOT NULL", 'ExecutionStatus != "ContinuedAsNew"', *clauses])
    rows: list[Listed] = []
    records: dict[str, dict[str, list[Landing]]] = {}
    async for wf in target.client.list_workflows(query, limit=args.limit):
        attrs = wf.typed_search_attributes
        outcome = attrs.get(SA_OUTCOME)
        repo = attrs.get(SA_REPO)
        if repo and not is_remote_repo(repo) and repo not in records:
            records[repo] = await landed_runs(Path(repo))
        landed = list(dict.fromkeys(landing.onto for landing in records.get(repo or "", {}).get(wf.id, [])))
        status = wf.status.name.lower() if wf.status else "?"
        rows.append({
            "run_id": wf.id, "strategy": wf.workflow_type, "status": outcome if status == "completed" and outcome else status,
            "started": wf.start_time.isoformat() if wf.start_time else None,
            "repo": attrs.get(SA_REPO), "waiting": bool(attrs.get(SA_WAITING)) and status == "running", "parent": wf.parent_id, "landed": landed,
        })
    if args.output == "json":
        for row in rows:
            print(json.dumps(row))
        return EXIT_SUCCESS
    if rows:
        print(_row("run", "strategy", "status", "started", "repo"))
    for row in rows:
        onto = f"  landed on {', '.join(row['landed'])}" if row["landed"] else ""
        print(_row(row["run_id"], row["strategy"], "waiting" if row["waiting"] else row["status"], (row["started"] or "")[:19], row["repo"]) + onto)
    if not rows:
        print("no runs", file=sys.stderr)
    return EXIT_SUCCESS


def _row(run_id: str, strategy: str, status: str, started: str, repo: str | None) -> str:
    return f"{run_id:<32} {strategy:<14} {status:<10} {started:<20} {repo}"
