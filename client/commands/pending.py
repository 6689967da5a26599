"""`orchard pending`: every open question across runs, read from visibility (no worker needed)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from client.errors import EXIT_SUCCESS
from client.render import make_console, quota_line
from client.runs import target_for
from workflows.sdk.models import Question
from workflows.sdk.visibility import MEMO_BUDGET_WAIT, MEMO_QUESTIONS, MEMO_QUOTA, SA_REPO

WAITING_RUNS = 'OrchardWaiting = true AND ExecutionStatus = "Running"'
RUNNING_RUNS = 'OrchardOutcome = "running" AND ExecutionStatus = "Running"'


async def cmd_pending(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    rows = []
    async for wf in target.client.list_workflows(WAITING_RUNS):
        memo = await wf.memo()
        for raw in memo.get(MEMO_QUESTIONS) or []:
            question = Question.model_validate(raw)
            rows.append({"run_id": wf.id, "strategy": wf.workflow_type, "repo": wf.typed_search_attributes.get(SA_REPO), **question.model_dump(mode="json")})
    quota: list[dict[str, Any]] = []  # runs whose instances wait for a provider's limit to reset, or a shared budget's period to turn
    async for wf in target.client.list_workflows(RUNNING_RUNS):
        memo = await wf.memo()
        run: dict[str, Any] = {"run_id": wf.id, "strategy": wf.workflow_type, "repo": wf.typed_search_attributes.get(SA_REPO)}
        if memo.get(MEMO_QUOTA):
            quota.append({**run, "quota_until": memo[MEMO_QUOTA]})
        if memo.get(MEMO_BUDGET_WAIT):
            quota.append({**run, "budget_wait": memo[MEMO_BUDGET_WAIT]})
    if args.output == "json":
        for said in [*rows, *quota]:
            print(json.dumps(said))
        return EXIT_SUCCESS
    console = make_console()
    for waiting in quota:
        if "quota_until" in waiting:
            line = quota_line(datetime.fromisoformat(waiting["quota_until"]))
        else:
            line = quota_line(datetime.fromisoformat(waiting["budget_wait"]["until"])).replace("quota", f"budget {waiting['budget_wait']['name']}")
        console.print(f"{waiting['run_id']}  {waiting['strategy']}  {line}")
    if not rows:
        print("no run waits for an answer", file=sys.stderr)
        return EXIT_SUCCESS
    for row in rows:
        offered = f"  choices: {', '.join(row['choices'])}" if row["choices"] else "  (any text)"
        default = f"; default {row['default']}" if row["default"] is not None else ""
        deadline = f", until {row['deadline'][:19]} UTC" if row["deadline"] else ""
        console.print(f"{row['run_id']}  {row['strategy']}  {row['key']}  asked {row['asked_at'][:19]} UTC{deadline}")
        console.print(f"  {row['text']}")
        console.print(f"{offered}{default}")
        several = sum(r["run_id"] == row["run_id"] for r in rows) > 1
        console.print(f"  answer: orchard answer {row['run_id']} CHOICE" + (f" --question {row['key']}" if several else ""))
    return EXIT_SUCCESS
