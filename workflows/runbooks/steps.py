"""What a pipeline run asks of the host that holds its workspace, one command at a time: a phase's
`run`, a guard's condition, a strategy chain's checkpoint, attempt or rollback, an event command.
The `run_runbook_step` activity (activities/runbooks/steps.py) takes a StepInput and answers with
a StepOutcome; the workflow renders every command before it asks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workflows.sdk.entities import HeldLease

StepKind = Literal["run", "guard", "checkpoint", "attempt", "rollback", "event"]


class StepInput(BaseModel):
    repo: str
    run_id: str
    key: str
    """The pipeline's key: its workspace on the host (one per pipeline run)."""
    step: int
    """The step's number in the run: its log and its recorded outcome."""
    attempt_key: str
    """Unique per try of this step (a try moved to another host is a new one)."""
    kind: StepKind
    label: str
    """What the step is, for logs and the commit message: `phase verify`, `attempt rebase`."""
    command: str
    cwd: str = ""
    """Relative to the workspace."""
    env: dict[str, str] = Field(default_factory=dict)
    timeout: float = 3600.0
    branch: str
    """The pipeline's branch in the user's repository, moved to where the step leaves HEAD."""
    start_commit: str
    branch_exists: bool = False
    branch_named: bool = False
    """The runbook named the branch (defaults.branch): it need not be under orchard/ (never a protected one)."""
    publish: list[str] = Field(default_factory=list)
    """The user's branches this pipeline may change; what the step pushes to `origin` is applied to them."""
    leases: list[HeldLease] = Field(default_factory=list)
    """The locks and semaphores the step's phase holds."""
    protected: list[str] = Field(default_factory=list)
    """Paths its runbook's [safety] protects: a step whose commit changes one is refused (nothing it did is kept)."""


class StepOutcome(BaseModel):
    exit_code: int | None
    """None when the command timed out and was killed."""
    stdout: str = ""
    """What the command printed on stdout (its last 8 KB, stripped): the phase's output."""
    output_tail: str = ""
    """The end of what it printed on stdout and stderr (redacted), for the people reading why it failed."""
    duration_seconds: float = 0.0
    commit: str
    """HEAD after the step, with what the command left uncommitted committed (run, attempt, rollback)."""
    changed: bool = False
    published: dict[str, str] = Field(default_factory=dict)
    """Branches of the user's repository the step moved (by its pushes to origin), and where to."""
    published_from: dict[str, str] = Field(default_factory=dict)
    """Where each of them was before (the zero id: it was made)."""
    refused: str | None = None
    """Why the step's pushes were not applied (a branch the pipeline does not publish, one moved meanwhile)."""
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.refused is None
