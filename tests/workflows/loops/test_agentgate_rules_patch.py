"""AgentGate's rules (issue 26) change what hybrid and ralph decide: a loop begun before them (its
history has no `loop-agentgate-rules` marker) replays deciding as it did, a new one follows them."""

from __future__ import annotations

import base64
import json

import pytest
from temporalio import workflow

from client.commands.replay import ReplayDiverged, replay
from tests.conftest import final_result, run_scripted, start_scripted
from tests.scripted import Script
from workflows.loops.loop import AGENTGATE_RULES

PARAMS = {"mode": "hybrid", "base_iterations": 2, "max_bonus_iterations": 2, "loop_detection": [], "verify": {"L0": ["ruff check ."], "L1": ["pytest -q"]}}
STEPS = [{"passed": ["L0"]}]
"""L0 passes, L1 never: no progress after the first iteration."""


def patches(history: str) -> set[str]:
    """The patch ids a history's markers record."""
    found = set()
    for event in json.loads(history)["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for payload in details.get("patch-data", {}).get("payloads", []):
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def trail(result) -> list[tuple[int, str]]:
    return [(row.iteration, row.action) for row in result.instances[0].loop.trail]


async def test_a_loop_begun_before_agentgate_rules_replays_as_it_decided(client, scripted_queue, monkeypatch):
    monkeypatch.setattr(workflow, "patched", lambda patch_id: False)  # the code before the rules: no patch, no marker
    handle = await start_scripted(client, scripted_queue, "loop", Script(steps=STEPS), params=PARAMS)
    before = await final_result(handle)
    assert trail(before) == [(1, "continue"), (2, "timeout")] and "no progress worth a bonus iteration" in before.instances[0].error
    history = (await handle.fetch_history()).to_json()
    assert AGENTGATE_RULES not in patches(history)
    monkeypatch.undo()

    assert "deterministic" in await replay(history, handle.id, None)
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)  # without the patch, today's rules would go on at iteration 2
    with pytest.raises(ReplayDiverged):
        await replay(history, handle.id, None)
    monkeypatch.undo()


async def test_a_new_loop_follows_agentgate_rules_and_replays(client, scripted_queue):
    script = Script(steps=STEPS)
    result = await run_scripted(client, scripted_queue, "loop", script, params=PARAMS)
    assert trail(result) == [(1, "continue"), (2, "continue"), (3, "continue"), (4, "timeout")]
    loop = result.instances[0]
    assert loop.error == "reached the maximum of 4 iterations with progress (passed up to L0)" and loop.loop.decision["metadata"]["partial_acceptable"]
    handle = client.get_workflow_handle(script.iterations[0].run_id)
    history = (await handle.fetch_history()).to_json()
    assert AGENTGATE_RULES in patches(history), patches(history)
    assert "deterministic" in await replay(history, handle.id, None)
