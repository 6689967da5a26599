"""`orchard.yaml`: defaults for runs and workers (as pitaya.yaml); the CLI overrides it.

The defaults themselves live in one place, the models the settings end up in (`TaskDefaults`,
`RunInput`): a setting the file leaves out is simply not set here, so no default is written twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflows.sdk.budget import Budget
from workflows.sdk.models import BranchNamespace, ConflictPolicy, CpuCount, ImportPolicy, MemorySize, NetworkEgress, RunnerName, Seconds, TurnLimit, first_error
from workflows.sdk.notify import NotifyTarget

CONFIG_FILE = "orchard.yaml"
RUNBOOKS_DIR = "runbooks"
"""Where runbooks live at a repository's root unless orchard.yaml or --runbooks says otherwise."""
DEFAULT_TASK_QUEUE = "orchard"
"""The task queue of the built-in strategies' workers (embedded, `python worker.py`, orchard.yaml)."""
MAX_ACTIVITIES = 200
"""Activities one worker runs at once unless told otherwise (`python worker.py --max-activities`)."""


class ConfigFileError(Exception):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunnerSettings(_Strict):
    kind: RunnerName | None = Field(default=None, alias="type")
    timeout: Seconds | None = None
    docker_image: str | None = None
    network_egress: NetworkEgress | None = None
    cpu_limit: CpuCount | None = None
    memory_limit: MemorySize | None = None


class OrchestrationSettings(_Strict):
    max_parallel: int | None = Field(default=None, ge=1)
    randomize_queue: bool | None = None
    branch_namespace: BranchNamespace | None = None


class ImportSettings(_Strict):
    policy: ImportPolicy | None = None
    conflict_policy: ConflictPolicy | None = None
    skip_empty: bool | None = None


class TemporalSettings(_Strict):
    address: str | None = None
    namespace: str | None = None
    task_queue: str = DEFAULT_TASK_QUEUE


class WorkerSettings(_Strict):
    strategies: list[str] = Field(default_factory=list)
    processes: int | None = None
    """Worker processes the embedded server's background workers run on this host, as `python
    worker.py --processes N` (each polls the same queues with its share of the activities): for a
    host whose one worker process is bound by its CPU. Default 1. Taken when a worker starts."""

    @field_validator("processes", mode="before")
    @classmethod
    def _a_count(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ACTIVITIES):
            raise ValueError(f"{value!r} is no number of worker processes: give a whole number from 1 to {MAX_ACTIVITIES} "
                             f"(each runs one of the worker's {MAX_ACTIVITIES} activities at least)")
        return value


class OrchardConfig(_Strict):
    model: str | None = None
    plugin: str | None = None
    agent_command: str | None = None
    max_turns: TurnLimit | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    cli_args: list[str] | None = None
    agent_env: list[str] | dict[str, str | None] = Field(default_factory=list)
    """As --env: NAME (from the shell, or a credential from the worker) or NAME=VALUE; a mapping
    NAME: VALUE (or NAME: null) says the same."""
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    budget: Budget = Field(default_factory=Budget)
    """What every run may spend (max_cost, max_tokens, policy); --max-cost, --max-tokens and --budget-policy win."""
    notify: list[NotifyTarget] = Field(default_factory=list)
    """Whom runs tell when they ask a person, end, fail, hit their budget or pause for quota (a command, a webhook, or both, each)."""
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    strategies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    runbooks: str | None = None
    """The runbooks' folder, relative to the repository's root (default: RUNBOOKS_DIR)."""

    def task_settings(self) -> dict[str, Any]:
        """The agent settings this file sets, by TaskDefaults' field names (what it leaves out is absent)."""
        top = self.model_dump(include={"model", "plugin", "agent_command", "max_turns", "system_prompt", "append_system_prompt", "cli_args"},
                              exclude_unset=True)
        runner = self.runner.model_dump(exclude_unset=True)
        if "kind" in runner:
            runner["runner"] = runner.pop("kind")
        renamed = {"policy": "import_policy", "conflict_policy": "import_conflict_policy", "skip_empty": "skip_empty_import"}
        imports = {renamed[k]: v for k, v in self.import_.model_dump(exclude_unset=True).items()}
        return {**top, **runner, **imports}

    def agent_env_specs(self) -> list[str]:
        if isinstance(self.agent_env, dict):
            return [name if value is None else f"{name}={value}" for name, value in self.agent_env.items()]
        return list(self.agent_env)


def load_config(path: str | Path | None, search_dir: str | Path | None = None) -> OrchardConfig:
    """The config at `path`, or orchard.yaml in search_dir if present, or the defaults."""
    if path is None:
        candidate = Path(search_dir or ".") / CONFIG_FILE
        if not candidate.is_file():
            return OrchardConfig()
        path = candidate
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigFileError(f"cannot read config file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigFileError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a mapping of settings")
    try:
        return OrchardConfig.model_validate(data)
    except ValidationError as e:
        where, message = first_error(e)
        raise ConfigFileError(f"config file {path}: {where}: {message}") from None
