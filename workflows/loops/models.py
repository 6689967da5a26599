"""What a loop iteration produces and what a loop decider decides from it.

Pure pydantic models and dataclasses: the loop workflow and the loop deciders (fixed, hybrid,
ralph, custom) import this, so no I/O here. The iteration's reports come from the
`run_iteration` activity (activities/loops/iteration.py); a decider's `should_continue` reads an
`IterationContext` and answers a `Decision`, inside the workflow and deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from workflows.sdk.models import InstanceResult, TaskSpec
from workflows.sdk.trail import LEVELS as LEVELS  # the trail's row and its levels are the SDK's (workflows/sdk/trail.py)
from workflows.sdk.trail import IterationRecord as IterationRecord
from workflows.sdk.trail import Level as Level
from workflows.sdk.trail import LoopAction

Action = LoopAction
"""What a decision does: iterate again, or end the loop (complete: done, also an accepted partial
result; timeout: out of iterations; fail; budget: out of money or time; stopped: by a person)."""

COMPLETION_SIGNALS: tuple[str, ...] = ("TASK_COMPLETE", "TASK_COMPLETED", "DONE", "[COMPLETE]", "[TASK COMPLETE]", "[DONE]")
"""What an agent says when it considers the task done (ralph; hybrid's agent_signal)."""


class CommandReport(BaseModel):
    """One verification (or CI) command run in the loop's workspace on the iteration's commit."""

    command: str
    passed: bool
    exit_code: int | None = None
    """None when the command timed out and was killed."""
    duration_seconds: float = 0.0
    output_tail: str = ""
    """The end of its output, for failing commands only (the whole log is in the run's folder)."""


class LevelReport(BaseModel):
    level: Level
    passed: bool
    skipped: bool = False
    """Not run, because a lower level failed (a skipped level does not pass)."""
    commands: list[CommandReport] = Field(default_factory=list)


class VerificationReport(BaseModel):
    """The configured levels, lowest first."""

    levels: list[LevelReport] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every configured level passed (and at least one is configured)."""
        return bool(self.levels) and all(level.passed for level in self.levels)

    @property
    def highest_passing(self) -> Level | None:
        """The highest level such that it and every configured level below it pass."""
        best: Level | None = None
        for level in self.levels:
            if not level.passed:
                break
            best = level.level
        return best

    def level(self, name: str) -> LevelReport | None:
        return next((level for level in self.levels if level.level == name), None)

    def failing(self) -> list[tuple[Level, CommandReport]]:
        """The failing commands with their level, lowest level first."""
        return [(level.level, c) for level in self.levels for c in level.commands if not c.passed]


class Snapshot(BaseModel):
    """The loop's branch after an iteration, against where the iteration started."""

    commit: str
    tree: str
    previous_commit: str
    previous_tree: str
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0

    @property
    def changed(self) -> bool:
        """The iteration changed the content (same tree as before: nothing changed, whatever was committed)."""
        return self.tree != self.previous_tree


class Decision(BaseModel):
    """A loop decider's answer after an iteration: `{continue, reason, action, metadata}`."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    should_continue: bool = Field(alias="continue")
    reason: str
    action: Action
    metadata: dict[str, Any] = Field(default_factory=dict)
    """JSON-ready; `partial: true` marks a `complete` that accepted a partial result."""

    @classmethod
    def go_on(cls, reason: str, **metadata: Any) -> Decision:
        return cls(should_continue=True, reason=reason, action="continue", metadata=metadata)

    @classmethod
    def stop(cls, action: Action, reason: str, **metadata: Any) -> Decision:
        return cls(should_continue=False, reason=reason, action=action, metadata=metadata)

    @property
    def partial(self) -> bool:
        return bool(self.metadata.get("partial"))


@dataclass(frozen=True)
class IterationContext:
    """What a loop decider decides from, after iteration `iteration` of at most `max_iterations`
    (the mode's maximum plus any `orchard loop extend`)."""

    iteration: int
    max_iterations: int
    snapshot: Snapshot
    verification: VerificationReport | None = None
    """None when the iteration ran no verification (none configured, or ralph's skip_verification)."""
    ci: CommandReport | None = None
    """The `ci` command's outcome; None when there is none or verification failed first."""
    agent_output: str = ""
    agent_error: str | None = None
    """The agent failed (non-zero exit, error result, timeout, rewrote the loop's history)."""
    history: Sequence[IterationRecord] = field(default_factory=tuple)
    """The earlier iterations of the loop (the whole chain), oldest first; earlier decisions included."""
    elapsed_seconds: float = 0.0
    cost_usd: float = 0.0
    """What the whole loop has spent so far, this iteration included."""
    tokens: int = 0


class IterationInput(BaseModel):
    """The `run_iteration` activity's input: one iteration in the loop's workspace on its host."""

    repo: str
    run_id: str
    loop_key: str
    iteration: int
    attempt_key: str
    """Unique per try of this iteration (a try moved to another host is a new one)."""
    branch: str
    """The loop's branch in the user's repository, advanced by fast-forward."""
    start_commit: str
    """The last finished iteration's commit (the base commit for the first): where this one starts."""
    branch_exists: bool = False
    """The loop's branch is at start_commit (else no iteration has changed anything yet)."""
    task: TaskSpec
    session_id: str | None = None
    """context=resume: the session the agent continues."""
    resume_session: str | None = None
    """After a pause at a provider's limit: the session the stopped agent goes on with (workflows/loops/iterations.py)."""
    quota_pauses: int = 0
    """Pauses at a provider's limit so far in this iteration."""
    levels: dict[Level, list[str]] = Field(default_factory=dict)
    """Verification commands by level; empty: no verification this iteration."""
    ci: str = ""
    verify_timeout: float = 1800.0
    files: dict[str, str] = Field(default_factory=dict)
    """Written into the workspace before the agent runs (ralph's state_dir), relative paths."""
    may_rewrite: bool = False
    """The agent may rewrite the branch's history (a runbook's conflict resolution rebases it, as
    its commands may); a loop's iterations may not."""
    publish: list[str] | None = None
    """A pipeline's agent: its `origin` is the pipeline's gateway, and what it pushes there is
    applied to these branches of the user's (None: a loop's iteration, no gateway)."""
    branch_named: bool = False
    """A pipeline's branch its runbook named (defaults.branch): it need not be under orchard/ (never a protected one)."""


class IterationOutcome(BaseModel):
    agent: InstanceResult
    snapshot: Snapshot
    verification: VerificationReport | None = None
    ci: CommandReport | None = None
    host: str = ""
    workspace: str = ""
    """How the host made the workspace ready for it: "checked out", "kept" (the last iteration's) or "reset"."""
    published: dict[str, str] = Field(default_factory=dict)
    """The user's branches the agent's pushes moved (a pipeline's agent), by name."""
    published_from: dict[str, str] = Field(default_factory=dict)
    """Where each of them was before (the zero id: it was made)."""
    refused: str | None = None
    """Why what it pushed was not applied."""


MAX_LOOP_ITERATIONS = 2000
"""The most iterations one loop runs, extensions included: its whole trail travels in its state
and its result (~200 bytes an iteration), which stay under Temporal's 512 KiB payload warning."""


class Nudge(BaseModel):
    text: str
    by: str = ""


class LoopState(BaseModel):
    """Everything a loop carries into the next run of its chain (continue-as-new)."""

    iteration: int = 0
    """Iterations finished."""
    commit: str
    """The last finished iteration's commit (the base commit before the first): where the next starts."""
    branch_exists: bool = False
    host_queue: str | None = None
    """The task queue of the host that holds the loop's workspace."""
    session_id: str | None = None
    extra_iterations: int = 0
    """Granted by `orchard loop extend` and by a person's "retry"."""
    nudges: list[Nudge] = Field(default_factory=list)
    """Waiting for the next iteration's prompt."""
    stop_by: str | None = None
    """Set when a person asked the loop to stop after this iteration."""
    strategy_state: dict[str, Any] = Field(default_factory=dict)
    """The decider's state (`get_state`), restored into the next run's decider; the field keeps the
    name runs in flight carry."""
    trail: list[IterationRecord] = Field(default_factory=list)

    @field_serializer("trail")
    def _compact(self, trail: list[IterationRecord]) -> list[dict[str, Any]]:
        """Each step without the fields at their defaults: the trail is most of what the loop carries."""
        return [step.model_dump(mode="json", exclude_defaults=True) for step in trail]
    last: IterationOutcome | None = None
    """The last finished iteration's outcome (feedback for the next, the result at the end)."""
    last_reason: str = ""
    asked: int = 0
    """Questions asked on failure so far (each gets its own key)."""
