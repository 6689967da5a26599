"""A strategy chain as a pure state machine: `transition(chain, state, event) -> (state, effects)`.

otters' Strategy primitive (a runbook's `[strategy.NAME]`, read into a ChainDef): the checkpoint
runs once, then the attempts in order; an attempt that fails or times out runs its rollback
(rendered with the checkpoint) before the next one; when no attempt is left the chain is exhausted
and its `on_exhaust` says what follows. The workflow that drives it runs each effect as an activity
and feeds back what happened. An event that does not apply in a state (a late or repeated report)
changes nothing and asks for nothing.

    Ready        + Start              -> Checkpointing (RunCheckpoint) | Trying 0 (RunAttempt/SpawnTask)
    Checkpointing+ CheckpointComplete -> Trying 0
    Checkpointing+ CheckpointFailed   -> Failed (Emit failed)
    Trying n     + AttemptSucceeded   -> Succeeded (Emit succeeded)
    Trying n     + AttemptFailed|Timeout -> RollingBack n (RunRollback) | Trying n+1 | Exhausted (Emit exhausted)
    RollingBack n+ RollbackComplete   -> Trying n+1 | Exhausted
    RollingBack n+ RollbackFailed     -> Failed (Escalate: which attempt's rollback, and why)
    Exhausted    + Retry              -> as Ready + Start (on_exhaust = retry, or a person's retry)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.runbooks.model import ChainAttemptDef, ChainDef, RunTask, ShellTemplate

Status = Literal["ready", "checkpointing", "trying", "rolling_back", "succeeded", "exhausted", "failed"]
TERMINAL: tuple[Status, ...] = ("succeeded", "exhausted", "failed")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttemptFailure(_Frozen):
    attempt: str
    reason: str
    timed_out: bool = False
    rolled_back: bool = False


class ChainState(_Frozen):
    status: Status = "ready"
    attempt: int = 0
    """The attempt being tried or rolled back (trying, rolling_back)."""
    checkpoint: str | None = None
    succeeded: str | None = None
    reason: str | None = None
    """Why the chain failed (failed) or was exhausted (exhausted)."""
    failures: list[AttemptFailure] = Field(default_factory=list)
    """Every failed attempt so far, across retries of the chain, in order."""
    runs: int = 0
    """How often the chain has started (1 after Start, 2 after a Retry, ...)."""


# -- events -----------------------------------------------------------------------------------

class Start(_Frozen):
    kind: Literal["start"] = "start"


class CheckpointComplete(_Frozen):
    kind: Literal["checkpoint_complete"] = "checkpoint_complete"
    value: str


class CheckpointFailed(_Frozen):
    kind: Literal["checkpoint_failed"] = "checkpoint_failed"
    reason: str


class AttemptSucceeded(_Frozen):
    kind: Literal["attempt_succeeded"] = "attempt_succeeded"


class AttemptFailed(_Frozen):
    kind: Literal["attempt_failed"] = "attempt_failed"
    reason: str


class AttemptTimeout(_Frozen):
    kind: Literal["attempt_timeout"] = "attempt_timeout"
    seconds: float | None = None


class RollbackComplete(_Frozen):
    kind: Literal["rollback_complete"] = "rollback_complete"


class RollbackFailed(_Frozen):
    kind: Literal["rollback_failed"] = "rollback_failed"
    reason: str


class Retry(_Frozen):
    kind: Literal["retry"] = "retry"


ChainEvent = Annotated[
    Start | CheckpointComplete | CheckpointFailed | AttemptSucceeded | AttemptFailed | AttemptTimeout | RollbackComplete | RollbackFailed | Retry,
    Field(discriminator="kind"),
]
EVENTS: tuple[type[_Frozen], ...] = (Start, CheckpointComplete, CheckpointFailed, AttemptSucceeded, AttemptFailed, AttemptTimeout,
                                     RollbackComplete, RollbackFailed, Retry)


# -- effects ----------------------------------------------------------------------------------

class RunCheckpoint(_Frozen):
    kind: Literal["run_checkpoint"] = "run_checkpoint"
    command: ShellTemplate


class RunAttempt(_Frozen):
    """Run an attempt's command (rendered with `checkpoint` and `attempt`), within its timeout."""
    kind: Literal["run_attempt"] = "run_attempt"
    index: int
    attempt: ChainAttemptDef


class SpawnTask(_Frozen):
    """Run an attempt's agent task, within its timeout."""
    kind: Literal["spawn_task"] = "spawn_task"
    index: int
    attempt: ChainAttemptDef
    task: str


class RunRollback(_Frozen):
    kind: Literal["run_rollback"] = "run_rollback"
    index: int
    command: ShellTemplate


class Emit(_Frozen):
    """An event for `wake_on` patterns and the run's log: `strategy:<name>:<what>`."""
    kind: Literal["emit"] = "emit"
    event: str


class Escalate(_Frozen):
    kind: Literal["escalate"] = "escalate"
    reason: str


ChainEffect = Annotated[RunCheckpoint | RunAttempt | SpawnTask | RunRollback | Emit | Escalate, Field(discriminator="kind")]


# -- the transition ---------------------------------------------------------------------------

def _emit(chain: ChainDef, what: str) -> Emit:
    return Emit(event=f"strategy:{chain.name}:{what}")  # the runbook's word: wake_on patterns match it


def _try(chain: ChainDef, state: ChainState, index: int) -> tuple[ChainState, list[ChainEffect]]:
    """Attempt `index`, or exhaustion when there is none."""
    if index >= len(chain.attempts):
        tried = ", ".join(f.attempt for f in state.failures[-len(chain.attempts):])
        exhausted = state.model_copy(update={"status": "exhausted", "attempt": index, "reason": f"every attempt failed ({tried})"})
        return exhausted, [_emit(chain, "exhausted")]
    attempt = chain.attempts[index]
    effect: ChainEffect = (
        SpawnTask(index=index, attempt=attempt, task=attempt.action.task) if isinstance(attempt.action, RunTask)
        else RunAttempt(index=index, attempt=attempt)
    )
    return state.model_copy(update={"status": "trying", "attempt": index}), [effect]


def _start(chain: ChainDef, state: ChainState) -> tuple[ChainState, list[ChainEffect]]:
    started = state.model_copy(update={"runs": state.runs + 1, "reason": None, "checkpoint": None})
    if chain.checkpoint is not None:
        return started.model_copy(update={"status": "checkpointing", "attempt": 0}), [RunCheckpoint(command=chain.checkpoint)]
    return _try(chain, started, 0)


def _failed_attempt(chain: ChainDef, state: ChainState, reason: str, timed_out: bool) -> tuple[ChainState, list[ChainEffect]]:
    attempt = chain.attempts[state.attempt]
    failure = AttemptFailure(attempt=attempt.name, reason=reason, timed_out=timed_out, rolled_back=attempt.rollback is not None)
    failed = state.model_copy(update={"failures": [*state.failures, failure]})
    if attempt.rollback is not None:
        return failed.model_copy(update={"status": "rolling_back"}), [RunRollback(index=state.attempt, command=attempt.rollback)]
    return _try(chain, failed, state.attempt + 1)


def transition(chain: ChainDef, state: ChainState, event: ChainEvent) -> tuple[ChainState, list[ChainEffect]]:
    """The next state and what to do. Pure and deterministic: the same inputs give the same outputs."""
    match state.status, event:
        case "ready", Start():
            return _start(chain, state)
        case "exhausted", Retry():
            return _start(chain, state)
        case "checkpointing", CheckpointComplete(value=value):
            return _try(chain, state.model_copy(update={"checkpoint": value}), 0)
        case "checkpointing", CheckpointFailed(reason=reason):
            return state.model_copy(update={"status": "failed", "reason": f"checkpoint failed: {reason}"}), [_emit(chain, "failed")]
        case "trying", AttemptSucceeded():
            name = chain.attempts[state.attempt].name
            return state.model_copy(update={"status": "succeeded", "succeeded": name}), [_emit(chain, "succeeded")]
        case "trying", AttemptFailed(reason=reason):
            return _failed_attempt(chain, state, reason, timed_out=False)
        case "trying", AttemptTimeout(seconds=seconds):
            limit = f" after {seconds:g}s" if seconds else ""
            return _failed_attempt(chain, state, f"timed out{limit}", timed_out=True)
        case "rolling_back", RollbackComplete():
            return _try(chain, state, state.attempt + 1)
        case "rolling_back", RollbackFailed(reason=reason):
            name = chain.attempts[state.attempt].name
            why = f"the rollback of attempt {name!r} failed: {reason}"
            return state.model_copy(update={"status": "failed", "reason": why}), [_emit(chain, "failed"), Escalate(reason=why)]
    return state, []
