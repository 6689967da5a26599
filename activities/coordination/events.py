"""Events between runs: signal the running runs on a repository that wait for an event matching
one sent (`emit_event`, the activity of ctx.emit; `orchard runbook emit`)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from workflows.sdk.events import EVENT_SIGNAL, EmitInput, matches
from workflows.sdk.visibility import SA_WAITS_FOR


async def signal_waiting(client: Client, repo: str, events: list[str], sender: str = "") -> int:
    """Signal every running run on `repo` (but `sender`) whose OrchardWaitsFor patterns match an event; how many signals went."""
    quoted = repo.replace('"', '\\"')
    told = 0
    async for wf in client.list_workflows(f'OrchardRepo = "{quoted}" AND ExecutionStatus = "Running" AND OrchardWaitsFor IS NOT NULL'):
        patterns = wf.typed_search_attributes.get(SA_WAITS_FOR) or []
        for event in events:
            if wf.id != sender and any(matches(p, event) for p in patterns):
                await client.get_workflow_handle(wf.id).signal(EVENT_SIGNAL, event)
                told += 1
    return told


@activity.defn
async def emit_event(inp: EmitInput) -> int:
    return await signal_waiting(activity.client(), inp.repo, inp.events, inp.sender)
