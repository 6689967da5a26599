"""`shadow`'s decisions against scripted activities: the primary's answer is published while the
shadows still run, shadows are recorded beside it and never decide the run's status. A shadow
run through the `orchard` command, with a killed worker, is in tests/e2e/test_strategies_cli.py."""

from __future__ import annotations

import asyncio

from tests.conftest import run_scripted, start_scripted
from tests.scripted import Script, until
from workflows.sdk.models import RunProgress

VARIANTS = [{"id": "slow"}, {"id": "fast"}, {"id": "broken", "agent_command": "exit 1"}]


async def test_shadow_publishes_the_primary_at_once_and_records_the_shadows(client, scripted_queue):
    shadow_done = asyncio.Event()
    script = Script(holds={"variant/slow": shadow_done}, failures={"variant/broken": "agent exited with code 1"})
    handle = await start_scripted(client, scripted_queue, "shadow", script, params={"variants": VARIANTS, "primary": "fast"})

    async def published() -> RunProgress | None:
        progress = await handle.query("progress", result_type=RunProgress)
        return progress if progress.published is not None else None

    progress = await until(published)
    early = progress.published
    assert early.status == "success" and [r.variant.id for r in early.instances] == ["fast"]
    assert early.instances[0].variant.role == "primary"
    assert {p.key: p.status for p in progress.instances}["variant/slow"] == "running"  # the shadow goes on
    assert progress.phase == "shadows running"
    shadow_done.set()

    result = await handle.result()
    assert result.status == "success"  # a failing shadow never fails the primary
    primary, *shadows = result.instances
    assert primary.variant.id == "fast"
    assert primary.variant.role == "primary" and not primary.variant.shadow and "shadow" not in primary.legacy_dump()["metadata"]
    assert {s.variant.id: s.success for s in shadows} == {"slow": True, "broken": False}
    assert all(s.variant.shadow and s.variant.role == "shadow" for s in shadows)
    assert sorted(script.started_keys()) == ["variant/broken", "variant/fast", "variant/slow"]  # all started together


async def test_the_primary_decides_the_status_and_defaults_to_the_first_variant(client, scripted_queue):
    script = Script(failures={"variant/slow": "agent exited with code 1: primary down"})
    result = await run_scripted(client, scripted_queue, "shadow", script, params={"variants": VARIANTS[:2]})
    primary, shadow = result.instances
    assert primary.variant.id == "slow" and primary.variant.role == "primary"
    assert shadow.success and shadow.variant.shadow is True
    assert result.status == "failed"  # a succeeding shadow does not rescue a failed primary
