"""What `orchard run` was asked, read once from its command line (client/commands/run.py) into
one typed value that the run's steps (client/run_steps.py) take: nothing after the edge reads the
argparse namespace. Values only: no file, repository, server or environment is read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from workflows.sdk.models import BranchNamespace, ConflictPolicy, ImportPolicy, NetworkEgress, RunnerName


@dataclass(frozen=True)
class PromptSource:
    """Where the prompt comes from: the argument itself, stdin (`-`) or a file (--prompt-file)."""

    kind: Literal["argument", "stdin", "file"]
    text: str = ""
    """The argument's text (kind "argument")."""
    path: str = ""
    """The file's path (kind "file")."""


@dataclass(frozen=True)
class AgentFlags:
    """The agent settings given on the command line (None: not given, orchard.yaml or the default
    decides); client/run_steps.configuration lays them over orchard.yaml into TaskDefaults."""

    model: str | None = None
    plugin: str | None = None
    agent_command: str | None = None
    timeout: float | None = None
    max_turns: int | None = None
    import_policy: ImportPolicy | None = None
    import_conflict_policy: ConflictPolicy | None = None
    runner: RunnerName | None = None
    docker_image: str | None = None
    network_egress: NetworkEgress | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    cli_args: tuple[str, ...] = ()
    """--cli-arg tokens, then --cli-args shell-split."""
    env: tuple[str, ...] = ()
    """--env NAME[=VALUE] items, in order (after orchard.yaml's agent_env: later ones win)."""

    def given(self) -> dict[str, Any]:
        """The settings given, by TaskDefaults' field names."""
        flags = {
            "model": self.model, "plugin": self.plugin, "agent_command": self.agent_command, "timeout": self.timeout,
            "max_turns": self.max_turns, "import_policy": self.import_policy, "import_conflict_policy": self.import_conflict_policy,
            "runner": self.runner, "docker_image": self.docker_image, "network_egress": self.network_egress,
            "system_prompt": self.system_prompt, "append_system_prompt": self.append_system_prompt,
            "cli_args": list(self.cli_args) or None,
        }
        return {k: v for k, v in flags.items() if v is not None}


@dataclass(frozen=True)
class GivenCredentials:
    """--api-key, --oauth-token and --base-url: for the worker this host runs, never shown (repr)."""

    api_key: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    base_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ServerFlags:
    """Which Temporal server, namespace and task queue (None: orchard.yaml's, else the embedded server)."""

    address: str | None = None
    namespace: str | None = None
    task_queue: str | None = None
    ui_url: str | None = None
    config: str | None = None
    """orchard.yaml to use (default: the repository root's)."""
    with_worker: bool = False
    """With a named server: a worker in this process serves the run."""


@dataclass(frozen=True)
class RunRequest:
    """One `orchard run` (or the run `orchard runbook run` and `runbook worker start` ask for)."""

    prompt: PromptSource
    strategy: str = "simple"
    """The strategy spec as given: a built-in's name, path.py[:Class] or module[:Class]."""
    params: tuple[tuple[str, str], ...] = ()
    """-S key=value pairs, in order (a later one wins; over orchard.yaml's `strategies:`)."""
    agent: AgentFlags = AgentFlags()
    repo: str = "."
    remote: str | None = None
    base_branch: str | None = None
    max_parallel: int | None = None
    randomize_queue: bool | None = None
    branch_namespace: BranchNamespace | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    budget_policy: str | None = None
    shared_budget: str | None = None
    credentials: GivenCredentials = GivenCredentials()
    server: ServerFlags = ServerFlags()
    output: str | None = None
    """tui, streaming, json or quiet (None: tui on a terminal, else streaming)."""
    detach: bool = False
    runs: int = 1
    keep_waiting: bool = False

    def budget(self) -> dict[str, Any]:
        """The budget flags given, by Budget's field names."""
        given = {"max_cost": self.max_cost, "max_tokens": self.max_tokens, "policy": self.budget_policy, "shared": self.shared_budget}
        return {k: v for k, v in given.items() if v is not None}

    def orchestration(self) -> dict[str, Any]:
        """The run-wide settings given, by RunInput's field names."""
        given = {"max_parallel": self.max_parallel, "randomize_queue": self.randomize_queue, "branch_namespace": self.branch_namespace}
        return {k: v for k, v in given.items() if v is not None}
