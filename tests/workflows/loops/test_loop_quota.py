"""A loop's iteration pauses at a provider's limit as an instance does: the run waits on a durable
timer and runs the iteration again resuming the agent's session; the pause is no iteration, no
failure and no budget spent, and the run shows it and tells of it once per pause (scripted activities)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WorkflowHandle

from client.commands.replay import replay
from client.render import progress_lines
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from workflows.sdk.models import RunProgress
from workflows.sdk.notify import NotifySettings, NotifyTarget
from workflows.sdk.visibility import MEMO_QUOTA


async def _waiting(handle: WorkflowHandle) -> RunProgress | None:  # type: ignore[type-arg]
    progress = await handle.query("progress", result_type=RunProgress)
    return progress if progress.quota_until is not None else None


async def _memo(handle: WorkflowHandle) -> str | None:  # type: ignore[type-arg]
    return (await (await handle.describe()).memo()).get(MEMO_QUOTA)


def _told(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def test_a_loop_iteration_at_a_limit_waits_resumes_its_session_and_counts_as_one_iteration(client, scripted_queue, tmp_path):
    log = tmp_path / "told.jsonl"
    notify = NotifySettings(targets=[NotifyTarget(command=f"cat >> {log}; echo >> {log}", events=["quota"])])
    script = Script(steps=[{"cost": 0.1}, {"cost": 0.1}, {"cost": 0.1, "passed": ["L0"]}], limits={"loop/2": [0.5, 1.2]})
    params = {"mode": "fixed", "max_iterations": 3, "max_cost_usd": 0.35, "verify": "pytest"}
    handle = await start_scripted(client, scripted_queue, "loop", script, params=params,
                                  run={"notify": notify})
    waiting = await until(lambda: _waiting(handle))
    assert waiting.quota_until is not None and waiting.quota_until > datetime.now(UTC)
    assert {p.key: p.status for p in waiting.instances}["iteration/2"] == "running"  # waiting, not failed
    assert progress_lines(waiting)[0] == f"waiting for quota until {waiting.quota_until.astimezone():%H:%M}"
    assert await until(lambda: _memo(handle)) == waiting.quota_until.isoformat()  # what `orchard pending` reads
    result = await final_result(handle)
    assert result.status == "success"
    (loop,) = result.instances
    assert loop.loop.iterations == 3 and [row.error for row in loop.loop.trail] == [None, None, None]  # the pauses used no iteration
    assert loop.loop.action == "complete"  # nor the budget: $0.30 for three iterations and $0.02 for the refused requests
    tries = [(i.iteration, i.quota_pauses, i.resume_session) for i in script.iterations]
    assert tries == [(1, 0, None), (2, 0, None), (2, 1, "session-loop/2"), (2, 2, "session-loop/2"), (3, 0, None)]
    assert [i.start_commit for i in script.iterations][1:4] == [script.iterations[1].start_commit] * 3  # the same iteration, run again
    second = next(p for p in (await handle.query("progress", result_type=RunProgress)).instances if p.key == "iteration/2")
    assert second.status == "success" and second.cost_usd == 0.12 and second.quota_until is None
    assert await _memo(handle) is None
    assert "deterministic" in await replay((await handle.fetch_history()).to_json(), handle.id, None)  # the pauses replay
    told = _told(log)  # two pauses in a row of one iteration: told once each
    assert [t["event"] for t in told] == ["quota", "quota"] and told[0]["quota_until"] < told[1]["quota_until"]
