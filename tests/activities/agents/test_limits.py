"""Provider limits read from what the agent CLIs print (activities/agents/limits.py) and the plugins' streams."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from activities.agents.base import AgentState
from activities.agents.claude_code import ClaudeCodePlugin
from activities.agents.codex import CodexPlugin
from activities.agents.limits import duration_seconds, is_limit, reset_from_headers, reset_from_text

NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


def test_claude_codes_usage_limit_messages_give_their_reset_time():
    assert reset_from_text("Claude AI usage limit reached|1749924000", NOW) == datetime.fromtimestamp(1749924000, UTC)
    assert reset_from_text("You've hit your session limit · resets 5:10pm (Europe/Paris)", NOW) == datetime(2026, 12, 6, 16, 10, tzinfo=UTC) + timedelta(days=1)
    assert reset_from_text("Claude usage limit reached. Your limit will reset at 9pm (America/Chicago).", NOW) == datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert reset_from_text("You've hit your limit · resets 7pm (UTC)", NOW) == datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    assert all(is_limit(m) for m in ("Claude AI usage limit reached|1749924000", "You've hit your session limit · resets 5pm (Europe/Paris)",
                                      "API Error: Request rejected (429) · This request would exceed your account's rate limit."))


def test_codex_and_openai_limit_messages_give_their_reset_time():
    message = "You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in 2 days 17 hours 14 minutes."
    assert reset_from_text(message, NOW) == NOW + timedelta(days=2, hours=17, minutes=14)
    assert reset_from_text("Rate limit reached for gpt-5 on tokens per min (TPM). Please try again in 1m30s.", NOW) == NOW + timedelta(seconds=90)
    assert reset_from_text("exceeded retry limit, last status: 429 Too Many Requests, request id: req_1", NOW) is None
    assert is_limit("exceeded retry limit, last status: 429 Too Many Requests, request id: req_1")
    assert not is_limit("exceeded retry limit, last status: 500 Internal Server Error")
    assert not is_limit("claude exited with code 1: invalid api key")


def test_the_apis_rate_limit_headers_give_the_latest_reset():
    anthropic = {"retry-after": "20", "anthropic-ratelimit-tokens-reset": "2026-12-06T17:01:00Z"}
    assert reset_from_headers(anthropic, NOW) == NOW + timedelta(seconds=60)
    openai = {"x-ratelimit-reset-requests": "6s", "x-ratelimit-reset-tokens": "1m0s"}
    assert reset_from_headers(openai, NOW) == NOW + timedelta(minutes=1)
    assert reset_from_headers({"Retry-After": "Sun, 06 Dec 2026 17:05:00 GMT"}, NOW) == NOW + timedelta(minutes=5)
    assert reset_from_headers({}, NOW) is None
    assert duration_seconds("250ms") == 0.25 and duration_seconds("soon") is None


def _feed(plugin, events) -> AgentState:  # type: ignore[no-untyped-def]
    state = AgentState()
    for event in events:
        plugin.parse_line(json.dumps(event), state)
    return state


def test_claude_codes_429_retry_stops_as_a_limit_with_the_apis_retry_after():
    before = datetime.now(UTC)
    state = _feed(ClaudeCodePlugin(), [{"type": "system", "subtype": "api_retry", "attempt": 1, "retry_delay_ms": 20000, "error_status": 429,
                                        "error": "rate_limit", "session_id": "s1"}])
    assert state.limit is not None and state.limit.reset_at is not None
    assert 19 <= (state.limit.reset_at - before).total_seconds() <= 21
    backoff_only = _feed(ClaudeCodePlugin(), [{"type": "system", "subtype": "api_retry", "retry_delay_ms": 543.7, "error_status": 429}])
    assert backoff_only.limit is not None and backoff_only.limit.reset_at is None  # the CLI's own backoff is no reset time
    overloaded = _feed(ClaudeCodePlugin(), [{"type": "system", "subtype": "api_retry", "retry_delay_ms": 543.7, "error_status": 529}])
    assert overloaded.limit is None


def test_claude_codes_rate_limited_result_is_a_limit_not_a_failure():
    state = _feed(ClaudeCodePlugin(), [{"type": "result", "subtype": "success", "is_error": True, "api_error_status": 429, "session_id": "s1",
                                        "result": "Claude AI usage limit reached|1749924000", "total_cost_usd": 0}])
    ClaudeCodePlugin().finish(state, 1, "")
    assert state.limit is not None and state.limit.reset_at == datetime.fromtimestamp(1749924000, UTC)
    assert state.error == "claude reported an error: Claude AI usage limit reached|1749924000"  # a failure still, where nothing pauses (a loop)


def test_codexs_rate_limit_error_is_a_limit():
    state = _feed(CodexPlugin(), [{"type": "error", "message": "exceeded retry limit, last status: 429 Too Many Requests, request id: req_0001"},
                                  {"type": "turn.failed", "error": {"message": "exceeded retry limit, last status: 429 Too Many Requests"}}])
    assert state.limit is not None and state.limit.reset_at is None
    usage = _feed(CodexPlugin(), [{"type": "error", "message": "You've hit your usage limit. Try again in 3 hours 5 minutes."}])
    assert usage.limit is not None and usage.limit.reset_at is not None
