"""An instance's heartbeats: none for one that ends within FIRST_BEAT_AFTER (a fan-out's no-op
agents, by the thousand), and every HEARTBEAT_EVERY seconds after it for one that runs on (its
progress for `orchard watch`, a lost worker noticed, a cancel delivered)."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.heartbeat import heartbeating
from tests.activities.test_instance import instance


async def test_an_instance_that_ends_at_once_sends_no_heartbeat(repo, orchard_home):
    from activities.instance import run_instance

    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    result = await env.run(run_instance, instance(repo, agent="true", runner="local", import_policy="never"))
    assert result.status == "success" and beats == []


async def test_a_longer_activity_heartbeats_its_progress_after_the_first_wait_and_then_regularly(monkeypatch):
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY", 0.03)
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])

    async def work(first_after: float, seconds: float) -> None:
        async with heartbeating(lambda: "agent running", first_after):
            await asyncio.sleep(seconds)

    await env.run(work, 0.15, 0.05)
    assert beats == []  # ended before its first beat
    await env.run(work, 0.02, 0.2)
    assert len(beats) >= 3 and set(beats) == {"agent running"}
    beats.clear()
    await env.run(work, 0.0, 0.01)
    assert beats == ["agent running"]  # without a first wait (a verification, a loop's iteration): at once, as before
