"""The real Claude Code CLI, run by Orchard's workflows against the fake Anthropic server while it
rate-limits: the runs pause (a Temporal timer), send no request while paused, and resume the
agents' sessions; no instance fails and no activity attempt is spent."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import orchard_branches, run_strategy
from tests.e2e.quota import attempts, no_request_while_paused, watch_quota
from tests.e2e.test_agent_clis import CLAUDE_SLEEPER, CODEX_NO_RETRIES, claude_conversation, codex_conversation, no_sleeper_left, require_cli
from tests.fakes import openai_server as oai
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.rate_limit import RateLimitWindow
from workflows.sdk.models import RunResult

pytestmark = pytest.mark.slow

WINDOW = 20.0


@pytest.fixture
def limited_claude(monkeypatch, tmp_path):
    """A fake Anthropic API that answers two model requests, then refuses every one for 20 s."""
    require_cli("claude")
    with FakeAnthropic(conversations=claude_conversation, rate_limit=RateLimitWindow(WINDOW, after=2)) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-" + uuid.uuid4().hex[:8])  # credentials of this test alone
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))  # the CLI keeps sessions under ~/.claude
        yield fake


async def _runs(client, task_queue, repo, count: int, strategy: str, params: dict) -> tuple[list[RunResult], list[str], dict[str, set[str]]]:  # type: ignore[no-untyped-def,type-arg]
    run_ids = [f"run_quota_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    seen: dict[str, set[str]] = {}
    watcher = asyncio.ensure_future(watch_quota(client, run_ids, seen))
    try:
        results = await asyncio.gather(*(run_strategy(client, task_queue, strategy, repo, params=params, agent="", plugin="claude-code",
                                                      model="claude-sonnet-4-5", run_id=run_id, runner="local") for run_id in run_ids))
    finally:
        watcher.cancel()
    return list(results), run_ids, seen


async def test_a_rate_limited_best_of_n_pauses_and_completes_with_every_instance_succeeding(client, task_queue, repo, limited_claude):
    (result,), (run_id,), seen = await _runs(client, task_queue, repo, 1, "best-of-n", {"n": 3, "diversity_hints": False})
    assert result.status == "success", [c.error for c in result.instances]
    assert all(c.success for c in result.instances) and orchard_branches(repo)
    # (Not always 3 branches: an agent stopped mid-turn when the pause began resumes its session, and the fake model,
    # which answers by counting the conversation's turns, may then skip its Write turn. A real model carries on.)
    assert sum(c.metrics.get("quota_pauses", 0) for c in result.instances) >= 1
    assert await attempts(client, run_id) == (0, 0)  # no attempt counted failed, no retry spent
    assert seen.get(run_id), "the run never said it was waiting for quota"
    no_request_while_paused(limited_claude.rate_limit)


async def test_three_runs_sharing_credentials_pause_and_resume_together(client, task_queue, repo, limited_claude):
    results, run_ids, seen = await _runs(client, task_queue, repo, 3, "simple", {})
    assert [r.status for r in results] == ["success"] * 3, [c.error for r in results for c in r.instances]
    assert set(seen) == set(run_ids), "every run waited"
    untils = set().union(*seen.values())
    assert len(untils) == 1, f"the runs waited for different resets: {untils}"  # one pause, the quota workflow's
    for run_id in run_ids:
        assert await attempts(client, run_id) == (0, 0)
    no_request_while_paused(limited_claude.rate_limit)


async def test_a_rate_limited_codex_pauses_for_a_backoff_and_resumes(client, task_queue, repo, monkeypatch, tmp_path):
    """Codex says only "exceeded retry limit, last status: 429": no reset time, so the run backs off (30 s)."""
    require_cli("codex")
    window = RateLimitWindow(5.0, after=1)  # its second model request (after a tool call) is refused
    with oai.FakeOpenAI(conversations=codex_conversation, rate_limit=window) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-codex-" + uuid.uuid4().hex[:8])
        (tmp_path / "codex-home").mkdir()
        monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))
        run_id = f"run_quota_{uuid.uuid4().hex[:8]}"
        result = await run_strategy(client, task_queue, "simple", repo, agent="", plugin="codex", model="gpt-5.5", cli_args=CODEX_NO_RETRIES,
                                    runner="local", run_id=run_id)
    (only,) = result.instances
    assert only.success and only.metrics["quota_pauses"] == 1, only.error
    assert len(orchard_branches(repo)) == 1 and only.cost_estimated
    assert await attempts(client, run_id) == (0, 0)
    assert len(window.refused) == 1 and window.requests_in(window.refused[0] + 1e-6, window.refused[0] + 29) == 0  # quiet through the backoff


async def test_an_agent_busy_in_a_tool_is_stopped_when_another_run_on_its_credentials_pauses(client, task_queue, repo, monkeypatch, tmp_path):
    """Run A's agent runs a long tool when run B's agent meets the limit: A is stopped within a few
    seconds (it would only meet the limit at its next request) and both resume after the pause."""
    require_cli("claude")
    window = RateLimitWindow(12.0, after=1)  # A's first request is answered; B's first is refused
    with FakeAnthropic(conversations=claude_conversation, rate_limit=window) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-" + uuid.uuid4().hex[:8])
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))
        busy = asyncio.ensure_future(run_strategy(client, task_queue, "simple", repo, prompt="SLOW task", agent="", plugin="claude-code",
                                                  runner="local", run_id=f"run_quota_{uuid.uuid4().hex[:8]}"))
        while not window.seen:
            await asyncio.sleep(0.1)
        limited = await run_strategy(client, task_queue, "simple", repo, agent="", plugin="claude-code", runner="local",
                                     run_id=f"run_quota_{uuid.uuid4().hex[:8]}")
        slow = await busy
    assert limited.status == "success" and limited.instances[0].metrics["quota_pauses"] == 1
    (stopped,) = slow.instances
    assert stopped.metrics.get("quota_pauses") == 1, stopped  # stopped in its tool, resumed after the pause
    assert window.opened_at is not None and window.closes_at is not None
    assert len(window.refused) == 1  # only B's request met the limit: A sent none during the pause
    assert window.requests_in(window.opened_at + 1e-6, window.closes_at) == 0
    assert no_sleeper_left(CLAUDE_SLEEPER)
