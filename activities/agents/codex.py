"""`codex`: the Codex CLI in `codex exec --json` mode.

    codex exec --json --skip-git-repo-check -C WORKSPACE [-m MODEL] [provider overrides]
               --dangerously-bypass-approvals-and-sandbox [CLI ARGS...] [resume SESSION] PROMPT

The CLI ignores OPENAI_BASE_URL, so a base URL (OPENAI_BASE_URL in the worker's environment, or
`base_url` in the plugin options) becomes a custom `model_provider` speaking the Responses API
with the key from OPENAI_API_KEY (or CODEX_API_KEY). Codex reports tokens but no cost: the cost
is estimated from PRICES_PER_MILLION and always marked estimated.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from activities.agents.base import AgentCommand, AgentContext, AgentState, fits_an_argument, last_line
from activities.agents.json_stream import JsonStreamPlugin
from activities.agents.limits import LimitHit, is_limit, reset_from_text
from activities.git.untrusted import write_path
from workflows.sdk.models import TaskSpec

PRICES_PER_MILLION: dict[str, tuple[float, float, float]] = {
    # model prefix: (input, cached input, output) in USD per million tokens, from OpenAI's public
    # price list; the longest matching prefix wins. Unknown models get no estimate.
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "o4-mini": (1.10, 0.275, 4.40),
    "o3": (2.00, 0.50, 8.00),
    "codex-mini": (1.50, 0.375, 6.00),
}
DEFAULT_MODEL = "gpt-5"
QUIET_CONFIG = ["-c", "analytics.enabled=false", "-c", "check_for_update_on_startup=false", "--disable", "plugins"]
"""Headless runs talk to the model provider only: no analytics, update checks or plugin lookups."""
PROVIDER_ID = "orchard"


def estimate_cost(model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
    name = (model or DEFAULT_MODEL).split("/")[-1].lower()
    matches = [p for p in PRICES_PER_MILLION if name.startswith(p)]
    if not matches:
        return None
    price_in, price_cached, price_out = PRICES_PER_MILLION[max(matches, key=len)]
    uncached = max(input_tokens - cached_tokens, 0)
    return round((uncached * price_in + cached_tokens * price_cached + output_tokens * price_out) / 1_000_000, 6)


class CodexPlugin(JsonStreamPlugin):
    name = "codex"
    executable = "codex"
    install_hint = "npm install -g @openai/codex"
    forward_env = ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL")

    def __init__(self) -> None:
        self._model = ""
        self._cached_tokens = 0
        self._last_error = ""

    def build_command(self, task: TaskSpec, ctx: AgentContext) -> AgentCommand:
        exe = self.find_executable(task, ctx)
        self._model = task.model
        argv = [exe, "exec", "--json", "--skip-git-repo-check", "--color", "never", "-C", str(ctx.workspace), *QUIET_CONFIG]
        if task.model:
            argv += ["-m", task.model]
        base_url = self._base_url(task)
        if base_url:
            env_key = "CODEX_API_KEY" if os.environ.get("CODEX_API_KEY") and not os.environ.get("OPENAI_API_KEY") else "OPENAI_API_KEY"
            provider = f"model_providers.{PROVIDER_ID}"
            argv += [
                "-c", f'model_provider="{PROVIDER_ID}"',
                "-c", f'{provider}.name="Orchard provider"',
                "-c", f"{provider}.base_url={json.dumps(base_url)}",
                "-c", f'{provider}.wire_api="responses"',
                "-c", f'{provider}.env_key="{env_key}"',
            ]
        instructions = "\n\n".join(p for p in (task.system_prompt, task.append_system_prompt) if p)
        if instructions:
            argv += ["-c", f"developer_instructions={json.dumps(instructions)}"]
        argv += [self._sandbox_flag(task)]
        argv += task.cli_args
        if ctx.session_id:
            argv += ["resume", ctx.session_id]
        on_stdin = not fits_an_argument(task.prompt)  # `-`: exec reads the prompt from stdin
        argv.append("-" if on_stdin else task.prompt)
        env = {"CODEX_HOME": str(self._private_home(ctx))} if ctx.agent_home else {}
        return AgentCommand(argv=argv, env=env, stdin=task.prompt if on_stdin else None)

    @staticmethod
    def _base_url(task: TaskSpec) -> str | None:
        return task.plugin_options.get("base_url") or os.environ.get("OPENAI_BASE_URL")

    def endpoints(self, task: TaskSpec) -> list[str]:
        return [self._base_url(task) or "https://api.openai.com"]

    @staticmethod
    def _private_home(ctx: AgentContext) -> Path:
        """Parallel runs sharing one CODEX_HOME race on its setup and lose commands, so each
        instance gets its own, with the user's login and config linked into it (copied into a
        container or a sandbox, where the user's files are out of reach)."""
        assert ctx.agent_home is not None and ctx.host_agent_home is not None
        home = ctx.host_agent_home
        home.mkdir(parents=True, exist_ok=True)
        shared = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        for name in ("auth.json", "config.toml"):
            target = home / name
            if not (shared / name).is_file():
                continue
            if ctx.own_home:  # the home is the last agent's: whatever it left there is replaced, never written through
                write_path(home, name, (shared / name).read_bytes())
                os.chmod(target, 0o600)
            elif not target.is_symlink() or os.readlink(target) != str(shared / name):
                if target.exists() or target.is_symlink():
                    target.unlink()
                target.symlink_to(shared / name)
        return ctx.agent_home

    @staticmethod
    def _sandbox_flag(task: TaskSpec) -> str:
        sandbox = task.plugin_options.get("sandbox")
        return f"--sandbox={sandbox}" if sandbox else "--dangerously-bypass-approvals-and-sandbox"

    def on_event(self, event: dict[str, Any], state: AgentState) -> None:
        kind = event.get("type", "")
        if kind in ("thread.started", "thread.resumed") and event.get("thread_id"):
            state.session_id = event["thread_id"]
            state.last_event = "session started"
        elif kind.startswith("item."):
            self._read_item(kind, event.get("item") or {}, state)
        elif kind == "turn.completed":
            # Usage is cumulative over the thread (a resumed session includes its earlier turns).
            usage = event.get("usage") or {}
            state.input_tokens = int(usage.get("input_tokens") or 0)
            state.output_tokens = int(usage.get("output_tokens") or 0)
            self._cached_tokens = int(usage.get("cached_input_tokens") or 0)
            cost = estimate_cost(self._model, state.input_tokens, self._cached_tokens, state.output_tokens)
            if cost is not None:
                state.cost_usd, state.cost_estimated = cost, True
        elif kind == "turn.failed":
            message = str((event.get("error") or {}).get("message", "no detail"))
            state.error = f"codex turn failed: {message}"
            self._limit(message, state)
        elif kind == "error":  # also transient ("Reconnecting... 2/5"): the exit code decides
            self._last_error = str(event.get("message") or "")
            state.last_event = f"error: {self._last_error}"[:200]
            self._limit(self._last_error, state)

    @staticmethod
    def _limit(message: str, state: AgentState) -> None:
        """A usage or rate limit: the instance pauses until its reset (when the message gives one)."""
        if is_limit(message):
            reset = reset_from_text(message, datetime.now(UTC))
            state.limit = LimitHit(message[:500], reset or (state.limit.reset_at if state.limit else None))

    @staticmethod
    def _read_item(kind: str, item: dict[str, Any], state: AgentState) -> None:
        item_type = item.get("type") or item.get("item_type")
        if item_type == "agent_message" and kind == "item.completed":
            state.final_message = item.get("text") or state.final_message
            if state.final_message:
                state.last_event = state.final_message.strip().splitlines()[0][:200]
        elif item_type == "command_execution":
            exit_code = item.get("exit_code")
            suffix = f" (exit {exit_code})" if exit_code is not None else ""
            state.last_event = f"$ {item.get('command', '')}{suffix}"[:200]
        elif item_type == "file_change":
            paths = [c.get("path", "") for c in item.get("changes") or []]
            state.last_event = f"edited {', '.join(paths)}"[:200] if paths else "edited files"
        elif item_type == "error" and item.get("message"):
            state.last_event = f"error: {item['message']}"[:200]

    def finish(self, state: AgentState, exit_code: int, stderr_tail: str) -> None:
        if state.error:
            return
        detail = self._last_error or last_line(stderr_tail)
        if exit_code != 0:
            state.error = f"codex exited with code {exit_code}" + (f": {detail}" if detail else "")
        elif state.final_message is None:
            state.error = "codex ended without a final message" + (f": {detail}" if detail else "")
