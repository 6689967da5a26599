"""A pipeline's agent step pauses at a provider's limit as a loop's iteration does: no retry, no
on_fail, no escalation for it; the run shows the wait (scripted activities)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from client.render import progress_lines
from client.runbooks.registry import RunbookRegistry
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from tests.workflows.loops.test_loop_quota import _waiting
from workflows.sdk.models import RunProgress


def _runbooks(tmp_path: Path) -> dict:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent('''
        [pipeline.fix]
        inputs = []

        [[pipeline.fix.phase]]
        name = "work"
        run = { agent = "fixer" }
        on_fail = "escalate"

        [[pipeline.fix.phase]]
        name = "check"
        run = "true"

        [agent.fixer]
        prompt = "fix the bug"
        command = "true"
    '''))
    return RunbookRegistry.load_directory(folder).bundle("ops.pipeline.fix").model_dump(mode="json")


async def test_a_pipeline_agent_step_at_a_limit_waits_and_resumes_with_no_retry_or_escalation(client, scripted_queue, tmp_path):
    script = Script(limits={"pipeline/1": [0.5]})
    handle = await start_scripted(client, scripted_queue, "runbook", script, params={"pipeline": "ops.pipeline.fix", "runbooks": _runbooks(tmp_path)})
    waiting = await until(lambda: _waiting(handle))
    assert progress_lines(waiting)[0] == f"waiting for quota until {waiting.quota_until.astimezone():%H:%M}"
    result = await final_result(handle)
    assert result.status == "success"
    (pipeline,) = result.instances
    assert [(p.phase, p.ok) for p in pipeline.pipeline.phases] == [("work", True), ("check", True)]  # one step, never failed or escalated
    assert [(i.iteration, i.quota_pauses, i.resume_session) for i in script.iterations] == [(1, 0, None), (1, 1, "session-pipeline/1")]
    assert not (await handle.query("progress", result_type=RunProgress)).questions


async def test_a_pipeline_shows_the_wait_of_the_strategy_a_phase_runs_as_a_child(client, scripted_queue, tmp_path):
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.toml").write_text(textwrap.dedent('''
        [pipeline.fix]
        inputs = []

        [[pipeline.fix.phase]]
        name = "work"
        run = { orchard = "simple", agent = "fixer" }
        on_fail = "escalate"

        [agent.fixer]
        prompt = "fix the bug"
        command = "true"
    '''))
    runbooks = RunbookRegistry.load_directory(folder).bundle("ops.pipeline.fix").model_dump(mode="json")
    script = Script(limits={"simple": [0.8]})
    handle = await start_scripted(client, scripted_queue, "runbook", script, params={"pipeline": "ops.pipeline.fix", "runbooks": runbooks})
    waiting = await until(lambda: _waiting(handle))  # the child's instance waits: the pipeline says so
    assert progress_lines(waiting)[0] == f"waiting for quota until {waiting.quota_until.astimezone():%H:%M}"
    result = await final_result(handle)
    assert result.status == "success" and [c.quota_pauses for c in script.calls] == [0, 1]
    (pipeline,) = result.instances
    assert [(p.phase, p.ok) for p in pipeline.pipeline.phases] == [("work", True)]
    assert (await handle.query("progress", result_type=RunProgress)).quota_until is None
