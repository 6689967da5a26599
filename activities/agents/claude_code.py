"""`claude-code`: Claude Code in headless mode, read through its stream-json output.

    claude --print --verbose --output-format stream-json [--model M] [--max-turns N]
           [--system-prompt S | --append-system-prompt S] --dangerously-skip-permissions
           [--resume SESSION] [CLI ARGS...] PROMPT

Passthrough arguments (`--cli-arg`, `--cli-args`) go just before the prompt. Credentials come from
the worker's environment: ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, and ANTHROPIC_BASE_URL.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from activities.agents.base import AgentCommand, AgentContext, AgentState, fits_an_argument, last_line
from activities.agents.json_stream import JsonStreamPlugin
from activities.agents.limits import LimitHit, is_limit, reset_from_text
from activities.git.untrusted import write_path
from workflows.sdk.models import TaskSpec

PRICES_PER_MILLION: dict[str, tuple[float, float, float, float]] = {
    # model prefix: (input, cache write, cache read, output) in USD per million tokens, from
    # Anthropic's public price list (5-minute cache writes); the longest matching prefix wins.
    # Only for the cost while the agent runs: its own figure replaces the estimate at its end.
    "claude-opus-4-5": (5.00, 6.25, 0.50, 25.00),
    "claude-opus-4": (15.00, 18.75, 1.50, 75.00),
    "claude-sonnet-4": (3.00, 3.75, 0.30, 15.00),
    "claude-haiku-4-5": (1.00, 1.25, 0.10, 5.00),
    "claude-3-7-sonnet": (3.00, 3.75, 0.30, 15.00),
    "claude-3-5-sonnet": (3.00, 3.75, 0.30, 15.00),
    "claude-3-5-haiku": (0.80, 1.00, 0.08, 4.00),
    "claude-3-opus": (15.00, 18.75, 1.50, 75.00),
    "claude-3-haiku": (0.25, 0.30, 0.03, 1.25),
}
USAGE_KINDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
"""The usage counts a message reports, in the order of a price's figures."""


def estimate_cost(model: str, usage: dict[str, int]) -> float | None:
    """USD for this usage at the model's list price; None for a model the table does not know."""
    name = model.split("/")[-1].lower()
    matches = [p for p in PRICES_PER_MILLION if name.startswith(p)]
    if not matches:
        return None
    prices = PRICES_PER_MILLION[max(matches, key=len)]
    return round(sum(usage.get(kind, 0) * price for kind, price in zip(USAGE_KINDS, prices, strict=True)) / 1_000_000, 6)


QUIET_ENV = {
    # Headless runs: no auto-update, telemetry or other calls beyond the model API.
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def _summarize_tool(name: str, tool_input: dict[str, Any]) -> str:
    for field in ("command", "file_path", "path", "pattern", "url", "description"):
        if isinstance(tool_input.get(field), str):
            return f"{name}: {tool_input[field]}"[:200]
    return name


LOGIN_FILE = ".credentials.json"
"""Where `claude login` keeps its token on Linux, in the CLI's config folder."""


def _copy_login(agent_home: Path) -> None:
    """The user's `claude login`, copied into the home of an agent that cannot see the user's (a
    sandbox's), as the local runner's agent finds it; what the last agent left there is replaced."""
    login = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude") / LOGIN_FILE
    if login.is_file():
        agent_home.mkdir(parents=True, exist_ok=True)
        write_path(agent_home, f".claude/{LOGIN_FILE}", login.read_bytes())
        os.chmod(agent_home / ".claude" / LOGIN_FILE, 0o600)


class ClaudeCodePlugin(JsonStreamPlugin):
    name = "claude-code"
    executable = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    forward_env = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")

    def __init__(self) -> None:
        self._counted: set[str | None] = set()
        self._usage = dict.fromkeys(USAGE_KINDS, 0)
        self._model = ""

    def build_command(self, task: TaskSpec, ctx: AgentContext) -> AgentCommand:
        exe = self.find_executable(task, ctx)
        self._model = task.model
        argv = [exe, "--print", "--verbose", "--output-format", "stream-json"]
        if task.model:
            argv += ["--model", task.model]
        if task.max_turns is not None:
            argv += ["--max-turns", str(task.max_turns)]
        if task.system_prompt:
            argv += ["--system-prompt", task.system_prompt]
        if task.append_system_prompt:
            argv += ["--append-system-prompt", task.append_system_prompt]
        if task.plugin_options.get("permission_mode"):
            argv += ["--permission-mode", str(task.plugin_options["permission_mode"])]
        else:
            argv += ["--dangerously-skip-permissions"]
        if ctx.session_id:
            argv += ["--resume", ctx.session_id]
        argv += task.cli_args
        on_stdin = not fits_an_argument(task.prompt)  # `--print` reads the prompt from stdin when none is given
        if not on_stdin:
            argv.append(task.prompt)
        env = dict(QUIET_ENV)
        if ctx.sandboxed and ctx.host_agent_home is not None:
            _copy_login(ctx.host_agent_home)
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # the CLI refuses to skip permissions as root outside a sandbox
        return AgentCommand(argv=argv, env=env, stdin=task.prompt if on_stdin else None)

    def endpoints(self, task: TaskSpec) -> list[str]:
        return [os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"]

    def on_event(self, event: dict[str, Any], state: AgentState) -> None:
        kind = event.get("type")
        if event.get("session_id"):
            state.session_id = event["session_id"]
        if kind == "system" and event.get("subtype") == "api_retry" and event.get("error_status") == 429:
            self._rate_limited(event, state)
        elif kind == "system" and event.get("subtype") == "init":
            state.last_event = f"session started ({event.get('model', 'default model')})"
            self._model = str(event.get("model") or self._model)
        elif kind == "assistant":
            message = event.get("message") or {}
            for block in message.get("content") or []:
                if block.get("type") == "text" and block.get("text", "").strip():
                    state.last_event = block["text"].strip().splitlines()[0][:200]
                elif block.get("type") == "tool_use":
                    state.last_event = _summarize_tool(block.get("name", "tool"), block.get("input") or {})
            # One line per content block, each repeating its message's usage: count a message once.
            if message.get("id") not in self._counted:
                self._counted.add(message.get("id"))
                usage = message.get("usage") or {}
                state.input_tokens += _input_tokens(usage)
                state.output_tokens += int(usage.get("output_tokens") or 0)
                for usage_kind in USAGE_KINDS:
                    self._usage[usage_kind] += int(usage.get(usage_kind) or 0)
                self._estimate(str(message.get("model") or self._model), state)
        elif kind == "result":
            self._read_result(event, state)

    def _read_result(self, event: dict[str, Any], state: AgentState) -> None:
        usage = event.get("usage") or {}
        if usage:  # the result's totals replace the running sums
            state.input_tokens = _input_tokens(usage)
            state.output_tokens = int(usage.get("output_tokens") or 0)
            self._usage = {usage_kind: int(usage.get(usage_kind) or 0) for usage_kind in USAGE_KINDS}
        if event.get("total_cost_usd") is not None:  # the agent's own figure, in place of the estimate
            state.cost_usd, state.cost_estimated = float(event["total_cost_usd"]), False
        else:
            self._estimate(self._model, state)
        state.num_turns = event.get("num_turns")
        text = event.get("result")
        state.final_message = text if isinstance(text, str) else None
        subtype = event.get("subtype")
        if event.get("is_error") and (event.get("api_error_status") == 429 or is_limit(state.final_message or "")):
            message = state.final_message or "rate limited (429)"
            reset = reset_from_text(message, datetime.now(UTC))
            state.limit = LimitHit(message[:500], reset or (state.limit.reset_at if state.limit else None))
        if event.get("is_error") or subtype not in (None, "success"):
            detail = ", ".join(str(e) for e in event.get("errors") or []) or state.final_message or "no detail"
            label = subtype if subtype not in (None, "success") else "an error"
            state.error = f"claude reported {label}: {detail}"[:1000]
        state.last_event = "finished" if not state.error else state.error[:200]

    @staticmethod
    def _rate_limited(event: dict[str, Any], state: AgentState) -> None:
        """The API answered 429 and the CLI is about to retry after `retry_delay_ms`: the API's
        `retry-after` when it gave one (whole seconds); a shorter delay is the CLI's own backoff."""
        delay_ms = float(event.get("retry_delay_ms") or 0)
        reset = datetime.now(UTC) + timedelta(milliseconds=delay_ms) if delay_ms >= 1000 else None
        state.limit = LimitHit("the API answered 429 (rate limited)", reset)
        state.last_event = "rate limited (429)" + (f", retry in {delay_ms / 1000:.0f}s" if reset else "")

    def _estimate(self, model: str, state: AgentState) -> None:
        """The cost so far from the tokens so far: Claude Code says its own only at the end."""
        cost = estimate_cost(model, self._usage)
        if cost is not None:
            state.cost_usd, state.cost_estimated = cost, True

    def finish(self, state: AgentState, exit_code: int, stderr_tail: str) -> None:
        if state.error:
            return
        detail = last_line(stderr_tail)
        if exit_code != 0:
            state.error = f"claude exited with code {exit_code}" + (f": {detail}" if detail else "")
        elif state.final_message is None:
            state.error = "claude ended without a result" + (f": {detail}" if detail else "")


def _input_tokens(usage: dict[str, Any]) -> int:
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
