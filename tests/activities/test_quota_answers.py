"""Whether credentials are paused is asked of the server once for the instances that start together
in a worker process (a fan-out starts tens a second), a pause this process reported is known to
its next instance at once, and one another process reported is seen once the answer is ANSWER_KEPT old."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities import quota
from activities.workspaces.host import run_queue
from orchard_common.sandbox import sandbox_runner
from workflows.coordination.quota import QuotaWorkflow
from workflows.sdk.quota import QuotaState, quota_id


def _environment(client, queue: str) -> ActivityEnvironment:
    env = ActivityEnvironment(client)
    env.info = dataclasses.replace(env.info, task_queue=queue)
    return env


async def test_instances_starting_together_ask_once_and_a_pause_reported_here_is_known_at_once(client, monkeypatch):
    asked: list[str] = []
    ask = quota._ask

    async def counted(c, fingerprint):
        asked.append(fingerprint)
        return await ask(c, fingerprint)

    monkeypatch.setattr(quota, "_ask", counted)
    fingerprint, queue = uuid.uuid4().hex[:16], f"quota-{uuid.uuid4().hex[:8]}"
    env = _environment(client, queue)

    async def many() -> list[QuotaState | None]:
        return list(await asyncio.gather(*(quota.paused_until(fingerprint) for _ in range(20))))

    assert await env.run(many) == [None] * 20 and asked == [fingerprint]  # no quota workflow: not paused, asked once

    until = datetime.now(UTC) + timedelta(seconds=60)
    async with Worker(client, task_queue=run_queue(queue), workflows=[QuotaWorkflow], workflow_runner=sandbox_runner()):
        try:
            await env.run(quota.report_limit, fingerprint, until, "429", "run_a")  # this process hits the limit
            paused = await env.run(quota.paused_until, fingerprint)
            assert paused is not None and paused.until == until and asked == [fingerprint]  # known without asking
        finally:
            await client.get_workflow_handle(quota_id(fingerprint)).terminate()


async def test_a_pause_another_process_reported_is_seen_once_the_answer_is_old(client, monkeypatch):
    fingerprint, queue = uuid.uuid4().hex[:16], f"quota-{uuid.uuid4().hex[:8]}"
    env = _environment(client, queue)
    monkeypatch.setattr(quota, "ANSWER_KEPT", 60.0)  # kept while the other process pauses, however slow this machine
    assert await env.run(quota.paused_until, fingerprint) is None
    until = datetime.now(UTC) + timedelta(seconds=60)
    async with Worker(client, task_queue=queue, workflows=[QuotaWorkflow], workflow_runner=sandbox_runner()):
        handle = await client.start_workflow(QuotaWorkflow.run, QuotaState(fingerprint=fingerprint, until=until, reason="429 elsewhere"),
                                             id=quota_id(fingerprint), task_queue=queue)  # as another worker process would
        try:
            assert await env.run(quota.paused_until, fingerprint) is None  # the answer of a moment ago, kept
            monkeypatch.setattr(quota, "ANSWER_KEPT", 0.0)
            paused = await env.run(quota.paused_until, fingerprint)
            assert paused is not None and paused.until == until and paused.reason == "429 elsewhere"
        finally:
            await handle.terminate()
