"""What the end-to-end quota tests check of a run while a fake model server rate-limits: its
history's activity attempts, what its progress says of quota, and the server's silence during the
pause (tests/e2e/test_quota_cli.py, test_quota_loops_cli.py)."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType

from tests.fakes.rate_limit import RateLimitWindow
from workflows.sdk.models import RunProgress


async def attempts(client, run_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(activity attempts past the first, activity failures) in the run's history."""
    retried = failed = 0
    async for event in client.get_workflow_handle(run_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and event.activity_task_started_event_attributes.attempt > 1:
            retried += 1
        failed += event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
    return retried, failed


async def watch_quota(client, run_ids: list[str], seen: dict[str, set[str]]) -> None:  # type: ignore[no-untyped-def]
    """Record what each run's progress says of quota while the runs go on."""
    while True:
        for run_id in run_ids:
            try:
                progress = await client.get_workflow_handle(run_id).query("progress", result_type=RunProgress)
            except Exception:  # noqa: BLE001 - not started yet, or ended
                continue
            if progress.quota_until is not None:
                seen.setdefault(run_id, set()).add(progress.quota_until.isoformat())
        await asyncio.sleep(0.2)


def no_request_while_paused(window: RateLimitWindow) -> None:
    """Each agent learns of the limit from one refused request and is stopped; then nothing reaches
    the server until the window closes."""
    assert window.opened_at is not None and window.closes_at is not None
    last_refused = max(window.refused)
    assert last_refused - window.opened_at < 5, "requests kept coming after the pause began"
    assert window.requests_in(last_refused + 1e-6, window.closes_at) == 0
    assert window.requests_in(window.closes_at, float("inf")) > 0  # and the agents came back after it
