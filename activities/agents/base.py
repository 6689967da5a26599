"""The agent plugin interface: how to launch an agent CLI and read its output stream.

A plugin builds the command for a task and turns each line the agent prints into progress
(last event, tokens, cost, session id) and, at the end, a final message or an error. The
runner (a local process or a container, activities/runners/) is separate from the plugin.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from activities.agents.limits import LimitHit
from workflows.sdk.models import TaskSpec


def last_line(text: str) -> str:
    """The last non-empty line of an output tail: usually the reason a CLI gives for failing."""
    return text.strip().splitlines()[-1] if text.strip() else ""


ARGUMENT_BYTES = 100_000
"""The longest prompt passed as one argument or environment variable: the kernel refuses a
single one over 128 KiB ("Argument list too long"), so a longer prompt goes on the agent's stdin."""


def fits_an_argument(text: str) -> bool:
    return len(text.encode()) <= ARGUMENT_BYTES


class PluginError(Exception):
    """The task cannot be run by this plugin as given (bad input: not retried)."""


@dataclass
class AgentCommand:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None


def with_agent_env(command: AgentCommand, task: TaskSpec) -> AgentCommand:
    """The command with the run's variables for its agents (`--env`): the values it carries, and
    the credentials it names from this worker's environment. A plugin's own variables win."""
    missing = [name for name in task.worker_env if name not in os.environ]
    if missing:
        names = ", ".join(missing)
        raise PluginError(
            f"the run gives its agents {names} from the worker's environment, which lacks {'it' if len(missing) == 1 else 'them'}; "
            f"start the worker with {names} set (embedded: set it in your shell and `orchard server stop`, then run again)"
        )
    env = {**task.agent_env, **{name: os.environ[name] for name in task.worker_env}, **command.env}
    return AgentCommand(argv=command.argv, env=env, stdin=command.stdin)


@dataclass
class AgentState:
    """What the plugin has learned from the agent's stream so far."""

    session_id: str | None = None
    final_message: str | None = None
    last_event: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    num_turns: int | None = None
    error: str | None = None
    output_lines: list[str] = field(default_factory=list)
    limit: LimitHit | None = None
    """The agent hit a provider's quota or rate limit (its `error` says it failed too, as ever): an
    instance stops the agent at once and pauses instead of failing (activities/agent_run.py)."""


@dataclass
class AgentContext:
    """Facts about the instance a plugin may pass to the agent."""

    workspace: Path
    """The workspace as the agent sees it (inside a container: its mount point)."""
    run_id: str
    key: str
    base_commit: str
    session_id: str | None = None
    agent_home: Path | None = None
    """A private folder for the agent's own state (kept across attempts, outside the results), as
    the agent sees it; in a container it is also the agent's HOME."""
    host_agent_home: Path | None = None
    """The same folder as the worker sees it, to prepare files in."""
    in_container: bool = False
    sandboxed: bool = False
    """In a sandbox (activities/runners/sandbox/): the host's programs at their paths, but the
    agent's home is its own folder and the user's (their CLI logins) out of its sight."""

    @property
    def own_home(self) -> bool:
        """The agent's HOME is its private folder (a container's, a sandbox's): the user's CLI
        logins are copied into it, since it cannot see the user's home."""
        return self.in_container or self.sandboxed


class AgentPlugin(ABC):
    name: ClassVar[str]
    forward_env: ClassVar[tuple[str, ...]] = ()
    """Worker environment variables (credentials, base URLs) the agent's container receives."""

    def endpoints(self, task: TaskSpec) -> list[str]:
        """Base URLs of the APIs the agent must reach; relayed into a container with no network."""
        return []

    @abstractmethod
    def build_command(self, task: TaskSpec, ctx: AgentContext) -> AgentCommand: ...

    @abstractmethod
    def parse_line(self, line: str, state: AgentState) -> None:
        """Update `state` from one line of the agent's stdout."""

    @abstractmethod
    def finish(self, state: AgentState, exit_code: int, stderr_tail: str) -> None:
        """Settle the final message and, if the agent failed, `state.error`."""
