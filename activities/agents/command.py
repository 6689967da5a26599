"""`command`: any command-line agent. The prompt arrives on stdin, in the file $ORCHARD_PROMPT_FILE,
and (up to 100 KB, the most one environment variable or argument can hold) in ORCHARD_PROMPT and
as {prompt}, quoted for where it stands in the command (one word where bare, escaped in quotes)."""

from __future__ import annotations

from activities.agents.base import AgentCommand, AgentContext, AgentPlugin, AgentState, PluginError, fits_an_argument, last_line
from activities.git.untrusted import write_path
from workflows.runbooks.shell import SLOT, ShellError, insert
from workflows.sdk.models import TaskSpec

KEPT_OUTPUT_LINES = 2000
PROMPT_FILE = "prompt.md"


MODEL_CREDENTIALS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "CODEX_API_KEY",
                     "OPENAI_BASE_URL")
"""The model credentials a run gives its agents (--api-key, --base-url, the worker's environment):
a command agent (often a CLI over a model) gets them in a sandbox or container as in a local process."""


class CommandPlugin(AgentPlugin):
    name = "command"
    forward_env = MODEL_CREDENTIALS

    def build_command(self, task: TaskSpec, ctx: AgentContext) -> AgentCommand:
        if not task.agent_command:
            raise PluginError("the command plugin needs --agent-command \"CMD\" (or agent_command in orchard.yaml)")
        short = fits_an_argument(task.prompt)
        if "{prompt}" in task.agent_command and not short:
            raise PluginError(
                f"the prompt ({len(task.prompt.encode()):,} bytes) is too long for {{prompt}} in --agent-command; "
                "read it from stdin or the file $ORCHARD_PROMPT_FILE"
            )
        try:  # the prompt is data wherever {prompt} stands: one word where bare, escaped inside '...' or "..."
            script = insert(task.agent_command.replace("{prompt}", f"{SLOT}0{SLOT}"), [task.prompt])
        except ShellError as e:
            raise PluginError(f"{{prompt}} in --agent-command: {e}") from None
        env = {
            "ORCHARD_PROMPT": task.prompt if short else "",
            "ORCHARD_MODEL": task.model,
            "ORCHARD_RUN_ID": ctx.run_id,
            "ORCHARD_KEY": ctx.key,
            "ORCHARD_BASE_COMMIT": ctx.base_commit,
            "ORCHARD_WORKSPACE": str(ctx.workspace),
        }
        if task.max_turns is not None:
            env["ORCHARD_MAX_TURNS"] = str(task.max_turns)
        if ctx.agent_home is not None and ctx.host_agent_home is not None:
            ctx.host_agent_home.mkdir(parents=True, exist_ok=True)
            write_path(ctx.host_agent_home, PROMPT_FILE, task.prompt.encode())  # a link the last agent left there is replaced, not followed
            env["ORCHARD_PROMPT_FILE"] = str(ctx.agent_home / PROMPT_FILE)
        return AgentCommand(argv=["bash", "-c", script], env=env, stdin=task.prompt)

    def parse_line(self, line: str, state: AgentState) -> None:
        state.output_lines.append(line)
        if len(state.output_lines) > KEPT_OUTPUT_LINES:
            del state.output_lines[0]
        if line.strip():
            state.last_event = line.strip()[:200]

    def finish(self, state: AgentState, exit_code: int, stderr_tail: str) -> None:
        state.final_message = "\n".join(state.output_lines).strip() or None
        if exit_code != 0:
            detail = last_line(stderr_tail) or state.last_event
            state.error = f"agent exited with code {exit_code}" + (f": {detail}" if detail else "")
