"""`orchard budget set|show|list` (shared budgets) and the runs that name one (`--budget NAME`),
and `orchard run --max-cost` with orchard.yaml's `budget:` and `notify:`: against the scripted worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.service import RPCError

from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.client.commands.test_run import scripted
from tests.scripted import Script, until
from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.sdk.models import RunProgress
from workflows.sdk.shared_budgets import LIVE_SIGNAL, BudgetLive, HeadroomRequest, period_end, shared_budget_id


def _name() -> str:
    return f"team-{uuid.uuid4().hex[:6]}"


async def test_a_shared_budget_is_set_shown_and_listed(orchard: Orchard, scripted_queue):
    name = _name()
    said = await orchard("budget", "set", name, "--usd", "50", "--per", "week", "--task-queue", scripted_queue)
    assert said.code == 0, said.err
    assert said.out.startswith(f"{name}: spent $0.00 of $50 this week (turns ") and said.out.rstrip().endswith("past it new instances wait")
    shown = await orchard("budget", "show", name, "--output", "json", "--task-queue", scripted_queue)
    row = json.loads(shown.out)
    assert (row["usd"], row["per"], row["policy"], row["spent"]) == (50, "week", "wait", 0.0)
    listed = await orchard("budget", "list", "--task-queue", scripted_queue)
    assert any(line.startswith(f"{name}: ") for line in listed.lines)
    changed = await orchard("budget", "set", name, "--usd", "20", "--per", "week", "--policy", "fail", "--task-queue", scripted_queue, "--output", "json")
    assert (json.loads(changed.out)["usd"], json.loads(changed.out)["policy"]) == (20, "fail")


async def test_bad_budget_input_gets_one_line(orchard: Orchard, scripted_queue):
    said = await orchard("budget", "set", _name(), "--usd", "0", "--task-queue", scripted_queue)
    assert said.code == 2 and said.err.strip().endswith("--usd: Input should be greater than 0"), said.err
    said = await orchard("budget", "show", "nobody-made-this", "--task-queue", scripted_queue)
    assert said.code == 2 and "no shared budget 'nobody-made-this'" in said.err and "Traceback" not in said.err


async def test_runs_naming_a_shared_budget_ask_it_before_each_instance_and_tell_it_what_they_spent(
        orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue):
    name = _name()
    assert (await orchard("budget", "set", name, "--usd", "0.5", "--policy", "fail", "--task-queue", scripted_queue)).code == 0
    scripted_runs.scripts += [Script(usage={".*": (10, 10, 0.75)}), Script(usage={".*": (10, 10, 0.75)})]
    first = await orchard(*scripted(scripted_queue, "add a greeting", "--budget", name, "--output", "quiet"))
    assert first.code == 0, first.err
    row = json.loads((await orchard("budget", "show", name, "--output", "json", "--task-queue", scripted_queue)).out)
    assert row["spent"] == 0.75
    second = await orchard(*scripted(scripted_queue, "add a greeting", "--budget", name, "--output", "streaming"))
    assert second.code != 0 and f"not started: budget {name}: spent $0.75 of $0.5 this day" in second.out + second.err
    assert scripted_runs.script(1).started_keys() == []  # no agent ran
    assert (await orchard(*scripted(scripted_queue, "x", "--budget", "no such name!", "--output", "quiet"))).code == 2


async def test_past_a_shared_budget_with_policy_wait_the_run_waits_for_the_period_to_turn(
        orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, client):
    name = _name()
    assert (await orchard("budget", "set", name, "--usd", "0.5", "--task-queue", scripted_queue)).code == 0
    scripted_runs.scripts.append(Script(usage={".*": (10, 10, 0.75)}))
    assert (await orchard(*scripted(scripted_queue, "add a greeting", "--budget", name, "--output", "quiet"))).code == 0
    command = asyncio.ensure_future(orchard(*scripted(scripted_queue, "add a greeting", "--budget", name, "--output", "quiet")))
    await until(lambda: len(scripted_runs.started) == 2, timeout=60)
    handle = client.get_workflow_handle(scripted_runs.started[1])

    async def waiting() -> RunProgress | None:
        try:
            progress = await handle.query("progress", result_type=RunProgress)
        except RPCError:  # not started yet
            return None
        return progress if progress.budget_wait else None

    progress = await until(waiting)
    assert progress.budget_wait == name and progress.budget_until is not None
    assert progress.budget_until == period_end(datetime.now(UTC), "day")  # midnight UTC
    pending = await orchard("pending", "--output", "json")
    assert any(json.loads(line).get("budget_wait", {}).get("name") == name for line in pending.lines if line.startswith("{"))
    await handle.cancel()
    await command


async def test_max_cost_and_orchard_yamls_budget_and_notify_reach_the_run(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, repo: Path,
                                                                          tmp_path: Path):
    told = tmp_path / "told.jsonl"
    (repo / "orchard.yaml").write_text(f"budget: {{policy: finish}}\nnotify:\n  - command: cat >> {told}; echo >> {told}\n    events: [budget]\n")
    scripted_runs.scripts.append(Script(usage={".*": (10, 10, 0.5)}))
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", "best-of-n", "-S", "n=4", "--max-parallel", "1",
                                   "--max-cost", "0.9", "--output", "streaming"))
    # candidate 1 ($0.50) and its scorer, kept back at what a candidate costs, would pass $0.9: it is scored alone and wins
    assert "budget: spent $1.00 of $0.9; the budget stopped 3 new candidates; selection cost $0.50\n" in said.out, said.out + said.err
    assert "winner: " in said.out
    (event,) = [json.loads(line) for line in told.read_text().splitlines()]
    assert event["event"] == "budget" and event["budget"].startswith("spent $1.00 of $0.9; ")


async def test_show_says_what_running_instances_spent_and_delete_refuses_while_they_hold_reservations(orchard: Orchard, scripted_queue, client):
    name = _name()
    assert (await orchard("budget", "set", name, "--usd", "5", "--task-queue", scripted_queue)).code == 0
    budget = client.get_workflow_handle(shared_budget_id(name))
    assert (await budget.execute_update(SharedBudgetWorkflow.ask, HeadroomRequest(run_id="run-a", key="gen/1", estimate=1.0))).granted
    await budget.signal(LIVE_SIGNAL, BudgetLive(run_id="run-a", key="gen/1", cost_usd=0.4))
    shown = await orchard("budget", "show", name, "--task-queue", scripted_queue)
    assert shown.out.startswith(f"{name}: spent $0.00, $0.40 so far by 1 running (holding $1.00) of $5 this day"), shown.out
    row = json.loads((await orchard("budget", "show", name, "--output", "json", "--task-queue", scripted_queue)).out)
    assert (row["running"], row["held"], row["running_instances"]) == (0.4, 1.0, 1)
    refused = await orchard("budget", "delete", name, "--task-queue", scripted_queue)
    assert refused.code == 2 and refused.err.strip().splitlines() == [
        f"orchard: budget {name!r}: 1 instance of 1 run hold reservations on it; wait for them to end, or delete it anyway with --force"], refused.err
    deleted = await orchard("budget", "delete", name, "--force", "--task-queue", scripted_queue)
    assert deleted.code == 0 and deleted.out.startswith(f"deleted {name}: "), deleted.err
    gone = await orchard("budget", "show", name, "--task-queue", scripted_queue)
    assert gone.code == 2 and f"no shared budget {name!r}" in gone.err and "Traceback" not in gone.err
    nobody = await orchard("budget", "delete", "nobody-made-this", "--task-queue", scripted_queue)
    assert nobody.code == 2 and "no shared budget 'nobody-made-this'" in nobody.err and "Traceback" not in nobody.err
    again = await orchard("budget", "set", name, "--usd", "3", "--task-queue", scripted_queue, "--output", "json")  # the name can be used again
    assert again.code == 0 and json.loads(again.out)["spent"] == 0.0
