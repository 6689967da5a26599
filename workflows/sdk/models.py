"""Data crossing the workflow boundary: run input/result, tasks, instance results.

Pure pydantic models and naming helpers only; workflow modules import this, so no I/O here.
Payloads stay small: long texts are truncated here and kept whole in files by the activities.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from workflows.sdk.budget import Budget
from workflows.sdk.notify import NotifySettings
from workflows.sdk.quota import QuotaPause
from workflows.sdk.secret_names import SECRET_NAME as SECRET_NAME  # its one definition, which the launcher reads without pydantic
from workflows.sdk.trail import ItemRecord, IterationRecord, LoopAction, PhaseRecord, TrailRow

FINAL_MESSAGE_LIMIT = 2000
"""Characters of an agent's final message kept in history; the whole text goes to a file."""

ImportPolicy = Literal["auto", "never", "always"]
ConflictPolicy = Literal["fail", "overwrite", "suffix"]
NetworkEgress = Literal["online", "offline", "proxy", "host"]
RunnerName = Literal["auto", "local", "sandbox", "docker"]
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


def _compact(rows: list[IterationRecord] | list[PhaseRecord]) -> list[dict[str, Any]]:
    """Each row without the fields at their defaults (its kind too): a long trail is most of a result."""
    return [row.model_dump(mode="json", exclude_defaults=True) for row in rows]


class Answer(BaseModel):
    """A person's answer to a run's question (ctx.ask); an approval of a result is one."""

    key: str
    question: str
    choice: str
    note: str = ""
    by: str = ""
    at: datetime
    timed_out: bool = False
    """No one answered in time: `choice` is the question's default."""


class Selection(BaseModel):
    """How a result stands among its run's: chosen (best-of-n's winner) or passed over and why, or
    why its strategy ended where it did (a loop's last decision, a pipeline's ending)."""

    winner: bool | None = None
    """True: the run's pick; False: a candidate that was not picked; None: nothing was picked among these."""
    reason: str | None = None
    ineligible: str | None = None
    """Why it could not be picked (no changes, failed verification, no usable score)."""
    candidate: int | None = None
    """Its number among best-of-n's candidates (1, 2, ...)."""
    score_rationale: str | None = None
    approval: Answer | None = None
    """The person who confirmed or changed the pick (best-of-n's `-S approve=true`)."""


class VerificationSummary(BaseModel):
    """A verification command run on the result's commit (ctx.verify; VerifyResult.record)."""

    log: str | None = None
    """The command's whole output, on the worker's host."""
    output: str | None = None
    """The end of a failed verification's output (None when it passed)."""


class VariantSummary(BaseModel):
    """The agent configuration a result ran (multi-branch, shadow, round-robin) and its row of the
    comparison table; the row's numbers are the result's own."""

    id: str
    role: str = ""
    """Its part in the run: "variant" (multi-branch), "primary" or "shadow", "turn N" (round-robin)."""
    verified: bool | None = None
    """`-S verify` passed or failed on it; None: not verified."""
    shadow: bool = False
    """A shadow's result is reported but never counts toward the run's status."""
    experiment: str | None = None
    """round-robin: the rotation it took a turn of, and which turn."""
    turn: int | None = None


class LoopSummary(BaseModel):
    """A loop's ending (workflows/loops/loop.py): its mode, its last decision and every iteration."""

    mode: str
    action: LoopAction
    partial: bool = False
    """A `complete` that accepted a partial result."""
    iterations: int = 0
    decision: dict[str, Any] = Field(default_factory=dict)
    """The mode's last decision as it gave it: `{continue, reason, action, metadata}`."""
    trail: list[IterationRecord] = Field(default_factory=list)
    """Every iteration, oldest first, across the runs of the loop's chain."""

    @field_serializer("trail")
    def _compact_trail(self, trail: list[IterationRecord]) -> list[dict[str, Any]]:
        return _compact(trail)


class PipelineSummary(BaseModel):
    """A runbook pipeline's run (workflows/runbooks/pipeline.py): its phases and what it published."""

    runbook: str = ""
    name: str = ""
    phases: list[PhaseRecord] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    """Each phase's output (the end of it), by phase."""
    published: dict[str, str] = Field(default_factory=dict)
    """The user's branches the run moved, by name, to the commit each is at now."""
    published_from: dict[str, str] = Field(default_factory=dict)
    """Where each of them was before (the zero id: it was made)."""
    refused: list[str] = Field(default_factory=list)
    """Every push refused, by whichever step or agent, with its reason."""

    @field_serializer("phases")
    def _compact_phases(self, phases: list[PhaseRecord]) -> list[dict[str, Any]]:
        return _compact(phases)


class QueueSummary(BaseModel):
    """A queue worker's items (workflows/runbooks/consumer.py), the newest, and the counts of all by status."""

    items: list[ItemRecord] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)


ORCHARD_FIELDS = ("selection", "verification", "variant", "loop", "pipeline", "queue", "runner", "recovered_from_branch", "quota")
"""What Orchard itself says of a result, each a typed field; before them (issue 25) each was a key of
`metadata`, where `--output json` still puts it (InstanceResult.legacy_dump)."""
SELECTION_KEYS = {"winner": "winner", "reason": "selection_reason", "ineligible": "ineligible", "candidate": "candidate",
                  "score_rationale": "score_rationale", "approval": "approval"}
"""Selection's fields by the metadata key each had."""
LEGACY_KEYS = frozenset({
    *SELECTION_KEYS.values(), "verify_log", "verify_output", "variant", "comparison", "shadow", "experiment", "turn", "loop", "iterations",
    "runbook", "pipeline", "phases", "outputs", "published", "published_from", "refused", "items", "counts", "runner", "recovered_from_branch",
})


def _legacy_variant(m: dict[str, Any]) -> VariantSummary:
    comparison = m["comparison"]
    if not isinstance(m["variant"], str) or not isinstance(comparison, dict):
        raise TypeError("not a variant's")
    return VariantSummary(id=m["variant"], role=comparison.get("role", ""), verified=comparison.get("verified"), shadow=m.get("shadow", False),
                          experiment=m.get("experiment"), turn=m.get("turn"))


def _legacy_loop(m: dict[str, Any]) -> LoopSummary:
    return LoopSummary.model_validate({**m["loop"], "trail": m["iterations"]})


def _legacy_pipeline(m: dict[str, Any]) -> PipelineSummary:
    if "phases" not in m:
        raise KeyError("phases")
    given = {"runbook": m.get("runbook"), "name": m["pipeline"], **{k: m.get(k) for k in ("phases", "outputs", "published", "published_from", "refused")}}
    return PipelineSummary.model_validate({k: v for k, v in given.items() if v is not None})


def _legacy_queue(m: dict[str, Any]) -> QueueSummary:
    return QueueSummary.model_validate({"items": m["items"], **({"counts": m["counts"]} if "counts" in m else {})})


def _legacy_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _legacy_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a flag")
    return value


_LIFTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], Any], ...] = (
    # (field, the keys that must all be there, every key it takes, how)
    ("selection", (), tuple(SELECTION_KEYS.values()),
     lambda m: Selection(**{field: m[key] for field, key in SELECTION_KEYS.items() if key in m})),
    ("verification", (), ("verify_log", "verify_output"), lambda m: VerificationSummary(log=m.get("verify_log"), output=m.get("verify_output"))),
    ("variant", ("variant", "comparison"), ("variant", "comparison", "shadow", "experiment", "turn"), _legacy_variant),
    ("loop", ("loop", "iterations"), ("loop", "iterations"), _legacy_loop),
    ("pipeline", ("pipeline", "phases"), ("runbook", "pipeline", "phases", "outputs", "published", "published_from", "refused"), _legacy_pipeline),
    ("queue", ("items",), ("items", "counts"), _legacy_queue),
    ("runner", ("runner",), ("runner",), lambda m: _legacy_text(m["runner"])),
    ("recovered_from_branch", ("recovered_from_branch",), ("recovered_from_branch",), lambda m: _legacy_flag(m["recovered_from_branch"])),
)


def _lifted(data: dict[str, Any]) -> dict[str, Any]:
    """A result as Orchard wrote it before the typed fields (a recorded history, a worker of an older
    Orchard, a strategy that still sets `metadata["winner"]`): each group of Orchard's keys in
    `metadata` moved to its field. A group whose field is given, or whose values do not read as it
    (a key of the user's own that has the same name), stays where it is."""
    data, metadata = dict(data), dict(data["metadata"])
    for field, needed, keys, lift in _LIFTS:
        present = [k for k in keys if k in metadata]
        if not present or data.get(field) not in (None, False) or any(k not in metadata for k in needed):
            continue
        try:
            data[field] = lift(metadata)
        except (ValidationError, KeyError, TypeError, ValueError):
            continue
        for key in present:
            del metadata[key]
    data["metadata"] = metadata
    return data


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
    # What Orchard itself says of the result (ORCHARD_FIELDS); `metadata` is the strategy's own.
    selection: Selection | None = None
    verification: VerificationSummary | None = None
    variant: VariantSummary | None = None
    loop: LoopSummary | None = None
    pipeline: PipelineSummary | None = None
    queue: QueueSummary | None = None
    runner: str | None = None
    """Where the agent ran: "local" (a process group) or "docker" (a container)."""
    recovered_from_branch: bool = False
    """A retried instance found its task's result on its branch already and took it (invariant 4)."""
    quota: QuotaPause | None = None
    """The agent stopped at a provider's limit (or its credentials are paused): not a failure, the
    run waits and runs the instance again (workflows/sdk/instances.py). Never in a final result."""

    @model_serializer(mode="wrap")
    def _unsaid_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """What Orchard does not say of a result is left out of its payload (most say one or two)."""
        data: dict[str, Any] = handler(self)
        for name in ORCHARD_FIELDS:
            if name in data and data[name] in (None, False):
                del data[name]
        return data

    @model_validator(mode="before")
    @classmethod
    def _from_legacy_metadata(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metadata"), dict) and not LEGACY_KEYS.isdisjoint(data["metadata"]):
            return _lifted(data)
        return data

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def winner(self) -> bool:
        """The run picked this result (best-of-n's winner)."""
        return bool(self.selection and self.selection.winner)

    @property
    def shadow(self) -> bool:
        """A shadow variant's result: reported, never counted toward the run's status."""
        return bool(self.variant and self.variant.shadow)

    def select(self, **fields: Any) -> Selection:
        """Set fields of the result's selection (made when it has none): `r.select(winner=True, reason=...)`."""
        self.selection = (self.selection or Selection()).model_copy(update=fields)
        return self.selection

    def orchard_metadata(self) -> dict[str, Any]:
        """What Orchard says of the result (ORCHARD_FIELDS), JSON-ready, under the metadata keys it
        had before the typed fields."""
        said: dict[str, Any] = {}
        if self.selection is not None:
            for field, key in SELECTION_KEYS.items():
                value = getattr(self.selection, field)
                if value is not None:
                    said[key] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        if self.verification is not None:
            said["verify_log"] = self.verification.log
            if self.verification.output is not None:
                said["verify_output"] = self.verification.output
        if self.variant is not None:
            v = self.variant
            said["variant"] = v.id
            said["comparison"] = {"variant": v.id, "role": v.role, "success": self.success, "duration_seconds": self.duration_seconds,
                                  "tokens": self.tokens, "cost_usd": self.cost_usd, "files_changed": self.files_changed, "verified": v.verified}
            said.update({"shadow": True} if v.shadow else {})
            said.update({k: getattr(v, k) for k in ("experiment", "turn") if getattr(v, k) is not None})
        if self.loop is not None:
            loop = self.loop.model_dump(mode="json")
            said["iterations"] = loop.pop("trail")
            said["loop"] = loop
        if self.pipeline is not None:
            pipeline = self.pipeline.model_dump(mode="json")
            said.update(runbook=pipeline.pop("runbook"), pipeline=pipeline.pop("name"), **pipeline)
        if self.queue is not None:
            said["items"] = [item.model_dump(mode="json", exclude={"kind"}) for item in self.queue.items]
            said["counts"] = dict(self.queue.counts)
        if self.runner is not None:
            said["runner"] = self.runner
        if self.recovered_from_branch:
            said["recovered_from_branch"] = True
        return said

    def legacy_dump(self) -> dict[str, Any]:
        """The result as JSON in the shape it had before the typed fields: what Orchard says of it
        under its old keys of `metadata` (`--output json`, which users' scripts read, keeps them)."""
        data = self.model_dump(mode="json", exclude=set(ORCHARD_FIELDS))
        data["metadata"] = {**data["metadata"], **self.orchard_metadata()}
        return data


class InstanceInput(BaseModel):
    """Everything the instance activity needs; the key fixes the branch name."""

    repo: str
    run_id: str
    strategy: str
    key: str
    branch: str
    base_commit: str | None = None
    task: TaskSpec
    resume_session: str | None = None
    """After a pause at a provider's limit: the agent session to resume (its workspace was kept)."""
    report_spend: bool = False
    """The run has a budget: the instance tells it its live spend (workflows/sdk/budget.py)."""
    shared_budget: str | None = None
    """The shared budget the instance holds headroom of (`--budget NAME`): told its live spend too."""
    quota_pauses: int = 0
    """Pauses at a provider's limit so far."""


class InstanceBatch(BaseModel):
    """What an `orchard-instances` child workflow runs: a share of a run's instances past its first
    `instances_per_history` (workflows/sdk/batches.py)."""

    instances: list[InstanceInput]
    max_parallel: int
    randomize_queue: bool = False
    budget: Budget | None = None
    """The run's budget, with what the run had spent when the batch started counted as spent; None: no budget."""
    expected: dict[str, tuple[float, int]] = {}
    """What an instance of each step is expected to spend (the most one of the run's spent): (USD, tokens)."""
    shared_budget: str | None = None
    """The run's shared budget (`--budget NAME`): each of the batch's instances asks it for headroom, as the run's own do."""


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


class TestSource(BaseModel):
    """Tests an agent wrote (best-of-n's test writers): the folder `path` of `commit`, brought into
    the checkout a verification runs in, over whatever the checked commit has there."""

    __test__ = False  # pytest: not a test class

    commit: str
    path: str
    """Relative to the repository's root, e.g. `orchard_tests/writer_1`."""

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str) -> str:
        parts = path.strip("/").split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
            raise ValueError(f"a test folder must be a plain path inside the repository, not {path!r}")
        return "/".join(parts)


class VerifyInput(BaseModel):
    repo: str
    run_id: str
    commit: str
    command: str
    timeout: float = 1800.0
    label: str = "verify"
    tests: list[TestSource] = Field(default_factory=list)
    """Test folders brought into the checkout before the command runs; the command is then a pytest
    run (`-rA`), whose outcome per test comes back in VerifyResult.tests."""
    runner: str = "auto"
    """The runner the verified agent ran in (or the run's, for a commit): "local" runs the command as
    a local process; anything else in the sandbox where bubblewrap works (activities/verification/check.py)."""
    network_egress: NetworkEgress = "online"
    """The run's egress, which the sandboxed command gets too."""


class DiffInput(BaseModel):
    """`commit_diff`: the changes from `base` to `commit`, cut to `limit` characters."""

    repo: str
    base: str
    commit: str
    limit: int = 20_000


TESTS_KEPT = 500
"""The most test outcomes a verification's result carries (the history carries summaries)."""


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
    tests: dict[str, bool] = Field(default_factory=dict)
    """With VerifyInput.tests: each test's id (pytest's node id) and whether it passed."""

    @property
    def failure(self) -> str:
        return "verification timed out" if self.exit_code is None else f"verification failed (exit {self.exit_code})"

    def record(self, result: InstanceResult) -> None:
        """Note this verification on the result it checked: passed or not, its exit code, its log
        and, when it failed, the end of its output, which `orchard show` prints with the log's path."""
        result.metrics["verify_passed"] = self.passed
        result.metrics["verify_exit_code"] = self.exit_code
        result.verification = VerificationSummary(log=self.log_path, output=None if self.passed else self.output_tail[-VERIFY_OUTPUT_KEPT:])


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
    budget: Budget | None = None
    """What the run may spend (workflows/sdk/budget.py); None: no limit."""
    notify: NotifySettings | None = None
    """Whom the run tells when it asks a person, ends, fails, hits its budget or pauses for quota (workflows/sdk/notify.py)."""
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
    quota_until: datetime | None = None
    """Set while it waits for a provider's limit to reset (workflows/sdk/quota.py)."""


RunStatus = Literal["success", "partial", "failed", "stopped"]
"""`stopped`: nothing it counts succeeded, and a person stopped what did not (`orchard loop stop`)."""


class MethodPick(BaseModel):
    """What one selection method picked among best-of-n's candidates (`-S compare=`: one per method;
    otherwise the one `select` names), and what that method's own agents spent (scorers, judges,
    test writers: shared ones are counted in every method that uses them)."""

    method: str
    """The spec as given: "score", "tests", "tests+tournament"."""
    candidate: int | None
    """The candidate it picked (1..n); None: nothing could be picked."""
    reason: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False


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
    selections: list[MethodPick] = Field(default_factory=list)
    """best-of-n: what each selection method picked (`-S compare=`: every one; the first is the winner's)."""
    trail: list[TrailRow] = Field(default_factory=list)
    """The steps a strategy keeps with its result (ctx.keep_trail): best-of-n's tests matrix and comparisons."""
    budget: str | None = None
    """Set when the run's budget stopped instances: `spent $4.91 of $5` (its outcome is `budget`)."""


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
    trail: list[TrailRow] = Field(default_factory=list)
    """The latest TRAIL_ROWS steps of the strategy's trail (ctx.trail), e.g. a loop's iterations."""
    trail_total: int = 0
    graph: list[str] = Field(default_factory=list)
    """The strategy's shape with where the run is (ctx.graph), e.g. a pipeline's phases."""
    quota_until: datetime | None = None
    """Instances wait for a provider's limit to reset until then (`waiting for quota until 14:05`)."""
    budget_wait: str | None = None
    """The shared budget instances wait for (its period to turn), until `budget_until`."""
    budget_until: datetime | None = None


TRAIL_ROWS = 50
"""The most trail steps the progress query lists (the latest); the run's result has them all."""


class SteerRequest(BaseModel):
    """A person steering a running strategy (a Temporal update, e.g. `orchard loop stop RUN`)."""

    action: str
    text: str = ""
    count: int = 0
    by: str = ""
    """The OS user who asked."""
