"""The real Claude Code CLI in a loop and in a runbook pipeline's agent step, against the fake
Anthropic server while it rate-limits: the iteration (or step) pauses on a Temporal timer and
resumes the agent's session; every iteration succeeds, no activity attempt is spent, and nothing
reaches the server during the pause but the one request refused per running agent. A loop whose
credentials another run paused stops its agent and sends nothing until the pause ends."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from pathlib import Path

import pytest

from client.runbooks.registry import RunbookRegistry
from tests.conftest import git, run_strategy
from tests.e2e.quota import attempts, no_request_while_paused, watch_quota
from tests.e2e.test_agent_clis import CLAUDE_SLEEPER, claude_conversation, no_sleeper_left, require_cli
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.rate_limit import RateLimitWindow

pytestmark = pytest.mark.slow

WINDOW = 15.0
CLAUDE = {"agent": "", "plugin": "claude-code", "model": "claude-sonnet-4-5", "runner": "local"}


@pytest.fixture
def claude_credentials(monkeypatch, tmp_path):
    """Credentials of this test alone (their quota workflow is this test's), the CLI's sessions in a home of its own."""
    require_cli("claude")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-" + uuid.uuid4().hex[:8])
    monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))

    def serve(window: RateLimitWindow) -> FakeAnthropic:
        fake = FakeAnthropic(conversations=claude_conversation, rate_limit=window)
        return fake

    return serve


def _serving(monkeypatch, fake: FakeAnthropic) -> None:  # type: ignore[no-untyped-def]
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)


async def _watched(client, run_id: str, running) -> tuple[object, set[str]]:  # type: ignore[no-untyped-def]
    seen: dict[str, set[str]] = {}
    watcher = asyncio.ensure_future(watch_quota(client, [run_id], seen))
    try:
        result = await running
    finally:
        watcher.cancel()
    return result, seen.get(run_id, set())


async def test_a_fixed_loop_pauses_mid_iteration_and_every_iteration_succeeds(client, task_queue, repo, monkeypatch, claude_credentials):
    # Each iteration is three model requests (write, commit, answer): the window opens at iteration 2's second one.
    window = RateLimitWindow(WINDOW, after=4)
    with claude_credentials(window) as fake:
        _serving(monkeypatch, fake)
        run_id = f"run_quota_loop_{uuid.uuid4().hex[:8]}"
        params = {"mode": "fixed", "max_iterations": 3, "verify": "test $(ls notes | wc -l) -ge 3"}
        result, seen = await _watched(client, run_id, run_strategy(client, task_queue, "loop", repo, params=params, run_id=run_id, **CLAUDE))
    assert result.status == "success", [c.error for c in result.instances]
    (loop,) = result.instances
    assert loop.loop.action == "complete" and loop.loop.iterations == 3  # the pause took no iteration
    assert [row.error for row in loop.loop.trail] == [None, None, None] and all(row.changed for row in loop.loop.trail)
    assert len(git(repo, "ls-tree", "--name-only", f"{loop.branch_name}:notes").split()) == 3  # iteration 2's file, written before the pause, committed after
    assert await attempts(client, run_id) == (0, 0)  # no attempt counted failed, no retry spent
    assert seen, "the loop never said it was waiting for quota"
    assert len(window.refused) == 1
    no_request_while_paused(window)


def _runbooks(folder: Path) -> dict:
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
        run = "test -n \\"$(ls notes)\\""

        [agent.fixer]
        prompt = "write the notes"
        plugin = "claude-code"
    '''))
    return RunbookRegistry.load_directory(folder).bundle("ops.pipeline.fix").model_dump(mode="json")


async def test_a_pipeline_agent_step_pauses_and_resumes_with_no_retry_or_escalation(client, task_queue, repo, monkeypatch, tmp_path, claude_credentials):
    window = RateLimitWindow(WINDOW, after=1)  # the agent's second request (after its Write) is refused
    with claude_credentials(window) as fake:
        _serving(monkeypatch, fake)
        run_id = f"run_quota_pipeline_{uuid.uuid4().hex[:8]}"
        params = {"pipeline": "ops.pipeline.fix", "runbooks": _runbooks(tmp_path / "runbooks")}
        result, seen = await _watched(client, run_id, run_strategy(client, task_queue, "runbook", repo, prompt="ops.fix", params=params,
                                                                  run_id=run_id, **CLAUDE))
    assert result.status == "success", [c.error for c in result.instances]
    (pipeline,) = result.instances
    assert [(p.phase, p.ok) for p in pipeline.pipeline.phases] == [("work", True), ("check", True)]  # never failed, retried or escalated
    assert await attempts(client, run_id) == (0, 0)
    assert seen, "the pipeline never said it was waiting for quota"
    assert len(window.refused) == 1
    no_request_while_paused(window)


async def test_a_loop_s_agent_stops_when_a_best_of_n_on_its_credentials_pauses(client, task_queue, repo, monkeypatch, claude_credentials):
    """The loop's agent runs a long tool when the best-of-n's agent meets the limit: the loop's is
    stopped within a few seconds (its next request would only meet the limit), sends nothing during
    the pause, and its iteration resumes after it."""
    window = RateLimitWindow(12.0, after=1)  # the loop's first request is answered; the best-of-n's first is refused
    with claude_credentials(window) as fake:
        _serving(monkeypatch, fake)
        loop_id = f"run_quota_loop_{uuid.uuid4().hex[:8]}"
        looping = asyncio.ensure_future(run_strategy(client, task_queue, "loop", repo, prompt="SLOW task", params={"mode": "fixed", "max_iterations": 1,
                                                     "verify": "true"}, run_id=loop_id, **CLAUDE))
        while not window.seen:
            await asyncio.sleep(0.1)
        best = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 1, "diversity_hints": False},
                                  run_id=f"run_quota_{uuid.uuid4().hex[:8]}", **CLAUDE)
        loop_result = await looping
    assert best.status == "success" and best.instances[0].metrics["quota_pauses"] == 1
    assert loop_result.status == "success", [c.error for c in loop_result.instances]
    assert loop_result.instances[0].loop.iterations == 1 and loop_result.instances[0].loop.trail[0].error is None
    assert await attempts(client, loop_id) == (0, 0)
    assert window.opened_at is not None and window.closes_at is not None
    assert len(window.refused) == 1  # only the best-of-n's request met the limit: the loop sent none during the pause
    assert window.requests_in(window.opened_at + 1e-6, window.closes_at) == 0
    assert no_sleeper_left(CLAUDE_SLEEPER)
