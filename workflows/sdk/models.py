"""Data crossing the workflow boundary: run input/result, tasks, instance results.

Pure pydantic models and naming helpers only; workflow modules import this, so no I/O here.
Payloads stay small: long texts are truncated here and kept whole in files by the activities.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FINAL_MESSAGE_LIMIT = 2000
"""Characters of an agent's final message kept in history; the whole text goes to a file."""

ImportPolicy = Literal["auto", "never", "always"]
ConflictPolicy = Literal["fail", "overwrite", "suffix"]
NetworkEgress = Literal["online", "offline", "proxy", "host"]
RunnerName = Literal["auto", "local", "docker"]
Seconds = Annotated[float, Field(gt=0)]
CpuCount = Annotated[float, Field(gt=0)]
MemorySize = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")]
TurnLimit = Annotated[int, Field(ge=1)]
"""Setting types shared by the task model and orchard.yaml, so each is checked in one place."""

PROTECTED_REF_PATTERNS = (
    r"main",
    r"master",
    r"develop",
    r"development",
    r"trunk",
    r"release/.*",
    r"releases/.*",
    r"hotfix/.*",
    r"production",
    r"prod",
    r"staging",
    r"HEAD",
)


def is_protected_ref(branch: str) -> bool:
    name = branch.removeprefix("refs/heads/")
    return any(re.fullmatch(p, name) for p in PROTECTED_REF_PATTERNS)


def is_remote_repo(repo: str) -> bool:
    """A git remote's URL (scheme://…, or scp-like user@host:path), not a path on the workers' hosts."""
    return "://" in repo or re.match(r"[^/:]+@[^/:]+:", repo) is not None


def key_hash8(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


BranchNamespace = Literal["hierarchical", "flat"]


def instance_branch(strategy: str, run_id: str, key: str, namespace: BranchNamespace = "hierarchical") -> str:
    """The branch an instance's commits are imported to: orchard/<strategy>/<run_id>/k<hash8>, or
    with the flat namespace (Pitaya's) orchard/<run_id>-k<hash8>."""
    if namespace == "flat":
        return f"orchard/{run_id}-k{key_hash8(key)}"
    return f"orchard/{strategy}/{run_id}/k{key_hash8(key)}"


SECRET_NAME = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|AUTH)", re.I)
"""Names of credential-like variables: their values never enter a history, a memo or a result."""
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def first_error(e: ValidationError) -> tuple[str, str]:
    """(dotted location, message) of a validation error's first problem, for one-line errors."""
    err = e.errors()[0]
    return ".".join(str(p) for p in err["loc"]), err["msg"].removeprefix("Value error, ")


def truncate(text: str | None, limit: int = FINAL_MESSAGE_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 20] + "\n…[truncated]"


class TaskDefaults(BaseModel):
    """Run-wide agent settings from the CLI and orchard.yaml; a task's own fields win."""

    model_config = ConfigDict(extra="forbid")

    model: str = ""
    plugin: str = "command"
    agent_command: str | None = None
    timeout: Seconds = 3600.0
    max_turns: TurnLimit | None = None
    import_policy: ImportPolicy = "auto"
    import_conflict_policy: ConflictPolicy = "fail"
    skip_empty_import: bool = True
    runner: RunnerName = "auto"
    docker_image: str | None = None
    network_egress: NetworkEgress = "online"
    cpu_limit: CpuCount | None = 2.0
    memory_limit: MemorySize | None = "4g"
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    cli_args: list[str] = Field(default_factory=list)
    plugin_options: dict[str, Any] = Field(default_factory=dict)
    agent_env: dict[str, str] = Field(default_factory=dict)
    """Variables set for the agent. Their values are in the run's history, so never a credential's."""
    worker_env: list[str] = Field(default_factory=list)
    """Names of variables the agent gets from its worker's environment (credentials: by name only)."""

    @field_validator("agent_env")
    @classmethod
    def _no_credential_values(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a variable name")
            if SECRET_NAME.search(name):
                raise ValueError(
                    f"{name} looks like a credential: its value would enter the run's history; "
                    f"set it in the worker's environment and pass it by name (--env {name})"
                )
        return env

    @field_validator("worker_env")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a variable name")
        return names


class TaskSpec(TaskDefaults):
    """One agent instance's task: what a strategy passes to ctx.run, merged over run defaults."""

    prompt: str
    base_branch: str

    def fingerprint(self) -> str:
        """Stable digest of the task, used to tell a reused key from a repeated one."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class CommitStats(BaseModel):
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    commits: int = 0


class InstanceResult(BaseModel):
    """Result of one agent instance; field names follow Pitaya's InstanceResult."""

    model_config = ConfigDict(validate_assignment=False)

    success: bool
    status: Literal["success", "failed", "timeout", "canceled", "stopped"] = "success"
    """`stopped`: a person stopped it before it was done (a loop stopped before its verification passed)."""
    branch_name: str | None = None
    has_changes: bool = False
    final_message: str | None = None
    session_id: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    duration_seconds: float | None = None
    commit: str | None = None
    commit_statistics: CommitStats | None = None
    # Orchard's additions
    key: str = ""
    base_commit: str | None = None
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    plugin: str = ""
    model: str = ""
    artifacts_dir: str | None = None
    final_message_path: str | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class InstanceInput(BaseModel):
    """Everything the instance activity needs; the key fixes the branch name."""

    repo: str
    run_id: str
    strategy: str
    key: str
    branch: str
    base_commit: str | None = None
    task: TaskSpec


class InstanceHeartbeat(BaseModel):
    """Progress an instance activity reports; `orchard watch` and the UI show it live."""

    phase: str = "starting"
    last_event: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = True
    """The cost so far is the plugin's estimate from tokens (Claude Code's until it reports its own
    at the end, Codex's always); a heartbeat that does not say otherwise is taken as one."""
    session_id: str | None = None


class VerifyInput(BaseModel):
    repo: str
    run_id: str
    commit: str
    command: str
    timeout: float = 1800.0
    label: str = "verify"


VERIFY_OUTPUT_KEPT = 1000
"""How much of the end of a failed verification's output its result keeps for `orchard show` (the
whole output is in its log)."""


class VerifyResult(BaseModel):
    passed: bool
    exit_code: int | None
    """None when the command timed out and was killed."""
    output_tail: str = ""
    log_path: str | None = None
    duration_seconds: float = 0.0

    @property
    def failure(self) -> str:
        return "verification timed out" if self.exit_code is None else f"verification failed (exit {self.exit_code})"

    def record(self, result: InstanceResult) -> None:
        """Note this verification on the result it checked: passed or not, its exit code, its log
        and, when it failed, the end of its output, which `orchard show` prints with the log's path."""
        result.metrics["verify_passed"] = self.passed
        result.metrics["verify_exit_code"] = self.exit_code
        result.metadata["verify_log"] = self.log_path
        if not self.passed:
            result.metadata["verify_output"] = self.output_tail[-VERIFY_OUTPUT_KEPT:]


class ResolveInput(BaseModel):
    repo: str
    branch: str


class RunTotals(BaseModel):
    """What a run (or a part of its chain, or a child) spent."""

    instances_run: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False

    def plus(self, other: RunTotals) -> RunTotals:
        return RunTotals(
            instances_run=self.instances_run + other.instances_run,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            cost_estimated=self.cost_estimated or other.cost_estimated,
        )


class Question(BaseModel):
    """A question a run asks a person (ctx.ask); open until answered or its deadline passes."""

    key: str
    text: str
    choices: list[str] = Field(default_factory=list)
    """The answers offered; empty: any text."""
    default: str | None = None
    """Taken when the deadline passes."""
    asked_at: datetime
    deadline: datetime | None = None


class AnswerRequest(BaseModel):
    """What `orchard answer` sends (a Temporal update): the choice, a note, and who answers."""

    choice: str
    note: str = ""
    by: str = ""
    """The OS user who answered."""
    key: str | None = None
    """Which question; None for the run's only open question."""


class Answer(BaseModel):
    key: str
    question: str
    choice: str
    note: str = ""
    by: str = ""
    at: datetime
    timed_out: bool = False
    """No one answered in time: `choice` is the question's default."""


class Questions(BaseModel):
    """Every question of a run: the open ones and the answers (carried across continue-as-new)."""

    asked: int = 0
    open: list[Question] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)


class ChildRun(BaseModel):
    """A strategy this run runs as a child workflow (ctx.run_strategy), as the progress query shows it."""

    key: str
    run_id: str
    strategy: str
    status: Literal["running", "success", "partial", "failed", "stopped", "canceled"] = "running"
    error: str | None = None
    totals: RunTotals = Field(default_factory=RunTotals)


class Continuation(BaseModel):
    """All a run carries into the next run of its chain when it continues as new."""

    started_at: datetime
    runs: int = 1
    """Runs of the chain before this one."""
    base_commit: str
    totals: RunTotals
    """What the earlier runs spent."""
    earlier: dict[str, int] = Field(default_factory=dict)
    """The earlier runs' instances by status."""
    questions: Questions = Field(default_factory=Questions)
    state: Any = None
    """What the strategy passed to ctx.continue_as_new (JSON-ready); ctx.carried in the next run."""


DEFAULT_MAX_PARALLEL = 8
"""Instances running at once for a run started without max_parallel (by code of its own): a fixed
number, so that a run's input never depends on the host that reads it. `orchard run` always says:
--max-parallel, orchard.yaml, or 4 per core of the client's host, at most 32 (client/commands/run.py)."""


class RunInput(BaseModel):
    """The workflow input of every strategy (and of a child strategy). No credentials ever go here."""

    prompt: str
    repo: str
    base_branch: str
    base_commit: str | None = None
    """The commit base_branch named when the client asked for the run (it resolved it while checking
    its input): the run starts from it at once. None (a child run, a run started by other code): the
    run resolves base_branch itself first, with an activity."""
    params: dict[str, Any] = Field(default_factory=dict)
    defaults: TaskDefaults = Field(default_factory=TaskDefaults)
    max_parallel: int = Field(default=DEFAULT_MAX_PARALLEL, ge=1)
    randomize_queue: bool = False
    """Instances waiting for one of the max_parallel slots get them in a deterministic random order
    (Pitaya's --randomize-queue), not in the order the strategy asked for them."""
    branch_namespace: BranchNamespace = "hierarchical"
    instances_per_history: int = Field(default=500, ge=1)
    """The instances a run schedules in its own history; later ones run in batches of this many in
    child workflows (workflows/sdk/batches.py), so no history outgrows Temporal's limits."""
    strategy_spec: str = ""
    chain: Continuation | None = None
    """Set when the run continues an earlier one of its chain (continue-as-new)."""


class InstanceProgress(BaseModel):
    """One instance as the workflow sees it, served by the `progress` query."""

    key: str
    branch: str
    status: Literal["queued", "running", "success", "failed", "timeout", "canceled", "stopped"] = "queued"
    plugin: str = ""
    error: str | None = None
    has_changes: bool = False
    commit: str | None = None
    duration_seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    started_at: datetime | None = None
    """When it took its slot and started (workflow time)."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """What the strategy reported while the run goes on (ctx.report), e.g. the scorer's score."""


RunStatus = Literal["success", "partial", "failed", "stopped"]
"""`stopped`: nothing it counts succeeded, and a person stopped what did not (`orchard loop stop`)."""


class RunResult(BaseModel):
    run_id: str
    strategy: str
    status: RunStatus
    base_branch: str
    base_commit: str
    instances: list[InstanceResult]
    duration_seconds: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    instances_run: int = 0
    """Instances run in all: this run's, its children's and those of the earlier runs of its chain."""
    questions: list[Answer] = Field(default_factory=list)
    """The questions asked of a person and how each was answered (or timed out)."""
    children: list[ChildRun] = Field(default_factory=list)
    runs: int = 1
    """Runs of the chain (continue-as-new)."""
    omitted: dict[str, int] = Field(default_factory=dict)
    """Results past the first RESULT_INSTANCES the strategy returned, by status: counted, not
    listed, so the result stays within Temporal's payload limit (each is in the run's history)."""


RESULT_INSTANCES = 1000
"""The most results a run's result lists (the strategy's first, e.g. the winner first)."""
PROGRESS_INSTANCES = 500
"""The most instances the progress query lists (those running first); the rest are counted."""


class RunProgress(BaseModel):
    run_id: str
    strategy: str
    phase: str
    base_commit: str | None = None
    instances: list[InstanceProgress] = Field(default_factory=list)
    published: RunResult | None = None
    """The run's answer published early (ctx.publish) while the run goes on; `orchard run` returns with it."""
    questions: list[Question] = Field(default_factory=list)
    """Open questions: the run waits for a person (`orchard answer`)."""
    children: list[ChildRun] = Field(default_factory=list)
    runs: int = 1
    """Runs of the chain so far, this one included (continue-as-new)."""
    earlier: dict[str, int] = Field(default_factory=dict)
    """Instances of the earlier runs of the chain, by status."""
    unlisted: dict[str, int] = Field(default_factory=dict)
    """This run's instances past the PROGRESS_INSTANCES listed, by status."""
    batch: str | None = None
    """The workflow id of the batch of instances running now (workflows/sdk/batches.py): their live heartbeats are there."""
    trail: list[dict[str, Any]] = Field(default_factory=list)
    """The latest TRAIL_ROWS steps of the strategy's trail (ctx.trail), e.g. a loop's iterations."""
    trail_total: int = 0
    graph: list[str] = Field(default_factory=list)
    """The strategy's shape with where the run is (ctx.graph), e.g. a pipeline's phases."""


TRAIL_ROWS = 50
"""The most trail steps the progress query lists (the latest); the run's result has them all."""


class SteerRequest(BaseModel):
    """A person steering a running strategy (a Temporal update, e.g. `orchard loop stop RUN`)."""

    action: str
    text: str = ""
    count: int = 0
    by: str = ""
    """The OS user who asked."""
