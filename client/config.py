"""`orchard.yaml`: defaults for runs and workers (as pitaya.yaml); the CLI overrides it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflows.models import MEMORY_LIMIT_PATTERN, ConflictPolicy, ImportPolicy, NetworkEgress, RunnerName, first_error

CONFIG_FILE = "orchard.yaml"


class ConfigFileError(Exception):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunnerSettings(_Strict):
    kind: RunnerName = Field(default="auto", alias="type")
    timeout: float = 3600.0
    docker_image: str | None = None
    network_egress: NetworkEgress = "online"
    cpu_limit: float | None = Field(default=2.0, gt=0)
    memory_limit: str | None = Field(default="4g", pattern=MEMORY_LIMIT_PATTERN)


class OrchestrationSettings(_Strict):
    max_parallel: int | None = Field(default=None, ge=1)


class ImportSettings(_Strict):
    policy: ImportPolicy = "auto"
    conflict_policy: ConflictPolicy = "fail"
    skip_empty: bool = True


class TemporalSettings(_Strict):
    address: str | None = None
    namespace: str | None = None
    task_queue: str = "orchard"


class WorkerSettings(_Strict):
    strategies: list[str] = Field(default_factory=list)


class OrchardConfig(_Strict):
    model: str = ""
    plugin: str = "command"
    agent_command: str | None = None
    max_turns: int | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    cli_args: list[str] = Field(default_factory=list)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    strategies: dict[str, dict[str, Any]] = Field(default_factory=dict)


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
