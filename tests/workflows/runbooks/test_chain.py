"""The strategy chain's state machine, every state against every event, and its determinism."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.runbooks import chain as c
from workflows.runbooks.model import ChainAttemptDef, ChainDef, ExhaustAction, RunShell, RunTask, Template


def t(source: str) -> Template:
    return Template(source=source, runbook="common")


def merge(checkpoint: bool = True) -> ChainDef:
    return ChainDef(
        ref="common.strategy.merge", name="merge", checkpoint=t("git rev-parse HEAD") if checkpoint else None,
        attempts=[
            ChainAttemptDef(name="fast-forward", action=RunShell(command=t("git merge --ff-only FETCH_HEAD")), timeout=60),
            ChainAttemptDef(name="rebase", action=RunShell(command=t("git rebase FETCH_HEAD")), rollback=t("git reset --hard {checkpoint}")),
            ChainAttemptDef(name="agent-resolve", action=RunTask(task="common.task.conflict_resolution"), rollback=t("git reset --hard {checkpoint}")),
        ],
        on_exhaust=ExhaustAction(kind="escalate"),
    )


SAMPLE_EVENTS: list[c.ChainEvent] = [
    c.Start(), c.CheckpointComplete(value="abc123"), c.CheckpointFailed(reason="not a repo"), c.AttemptSucceeded(),
    c.AttemptFailed(reason="conflict"), c.AttemptTimeout(seconds=60), c.RollbackComplete(), c.RollbackFailed(reason="locked"), c.Retry(),
]
EVENTS_KINDS = {e.kind for e in SAMPLE_EVENTS}
STATUSES: list[c.Status] = ["ready", "checkpointing", "trying", "rolling_back", "succeeded", "exhausted", "failed"]


def expected(chain: ChainDef, state: c.ChainState, event: c.ChainEvent) -> tuple[str, list[str]] | None:
    """The seed's table, written out independently: (next status, effect kinds), or None where the event does not apply."""
    n, last = state.attempt, len(chain.attempts) - 1
    attempt_effect = lambda i: "spawn_task" if isinstance(chain.attempts[i].action, RunTask) else "run_attempt"  # noqa: E731
    after = lambda i: ("exhausted", ["emit"]) if i > last else ("trying", [attempt_effect(i)])  # noqa: E731
    start = ("checkpointing", ["run_checkpoint"]) if chain.checkpoint else after(0)
    table = {
        ("ready", "start"): start,
        ("exhausted", "retry"): start,
        ("checkpointing", "checkpoint_complete"): after(0),
        ("checkpointing", "checkpoint_failed"): ("failed", ["emit"]),
        ("trying", "attempt_succeeded"): ("succeeded", ["emit"]),
        ("rolling_back", "rollback_complete"): after(n + 1),
        ("rolling_back", "rollback_failed"): ("failed", ["emit", "escalate"]),
    }
    for failure in ("attempt_failed", "attempt_timeout"):
        table[("trying", failure)] = ("rolling_back", ["run_rollback"]) if chain.attempts[n].rollback else after(n + 1)
    return table.get((state.status, event.kind))


@pytest.mark.parametrize("with_checkpoint", [True, False])
def test_every_state_against_every_event(with_checkpoint: bool) -> None:
    chain = merge(with_checkpoint)
    pairs = 0
    for status, index, event in itertools.product(STATUSES, range(len(chain.attempts)), SAMPLE_EVENTS):
        state = c.ChainState(status=status, attempt=index, checkpoint="abc123", runs=1)
        new, effects = c.transition(chain, state, event)
        want = expected(chain, state, event)
        if want is None:
            assert (new, effects) == (state, []), f"{status} + {event.kind} must change nothing"
        else:
            assert (new.status, [e.kind for e in effects]) == want, f"{status}[{index}] + {event.kind}"
        pairs += 1
    assert pairs == len(STATUSES) * 3 * len(c.EVENTS)
    assert {cls.model_fields["kind"].default for cls in c.EVENTS} == EVENTS_KINDS, "every event kind is sampled"



def test_a_failing_attempt_rolls_back_to_the_checkpoint_before_the_next_one() -> None:
    chain = merge()
    state, effects = c.transition(chain, c.ChainState(), c.Start())
    assert effects == [c.RunCheckpoint(command=chain.checkpoint)]
    state, effects = c.transition(chain, state, c.CheckpointComplete(value="abc123"))
    assert effects == [c.RunAttempt(index=0, attempt=chain.attempts[0])]
    state, effects = c.transition(chain, state, c.AttemptFailed(reason="not a fast-forward"))  # no rollback: straight on
    assert effects == [c.RunAttempt(index=1, attempt=chain.attempts[1])]
    state, effects = c.transition(chain, state, c.AttemptTimeout(seconds=300))
    assert state.status == "rolling_back" and effects == [c.RunRollback(index=1, command=chain.attempts[1].rollback)]
    assert state.checkpoint == "abc123"  # what the rollback is rendered with
    state, effects = c.transition(chain, state, c.RollbackComplete())
    assert effects == [c.SpawnTask(index=2, attempt=chain.attempts[2], task="common.task.conflict_resolution")]
    state, effects = c.transition(chain, state, c.AttemptSucceeded())
    assert state.status == "succeeded" and state.succeeded == "agent-resolve" and effects == [c.Emit(event="strategy:merge:succeeded")]
    assert [(f.attempt, f.reason, f.timed_out, f.rolled_back) for f in state.failures] == [
        ("fast-forward", "not a fast-forward", False, False), ("rebase", "timed out after 300s", True, True)]


def test_exhaustion_then_a_retry_runs_the_chain_again_from_a_new_checkpoint() -> None:
    chain = merge(checkpoint=False)
    state = c.ChainState()
    for event in (c.Start(), c.AttemptFailed(reason="a"), c.AttemptFailed(reason="b"), c.RollbackComplete(), c.AttemptFailed(reason="c"), c.RollbackComplete()):
        state, effects = c.transition(chain, state, event)
    assert state.status == "exhausted" and effects == [c.Emit(event="strategy:merge:exhausted")]
    assert state.reason == "every attempt failed (fast-forward, rebase, agent-resolve)"
    state, effects = c.transition(chain, state, c.Retry())
    assert state.status == "trying" and state.attempt == 0 and state.runs == 2 and len(state.failures) == 3


def test_a_failed_rollback_stops_the_chain_and_escalates_naming_the_attempt() -> None:
    chain = merge()
    state = c.ChainState(status="rolling_back", attempt=1, checkpoint="abc123", runs=1)
    state, effects = c.transition(chain, state, c.RollbackFailed(reason="index.lock exists"))
    assert state.status == "failed"
    assert effects[-1] == c.Escalate(reason="the rollback of attempt 'rebase' failed: index.lock exists")


_EVENT = st.sampled_from(SAMPLE_EVENTS)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(_EVENT, max_size=25))
def test_any_sequence_of_events_is_deterministic_and_keeps_the_invariants(with_checkpoint: bool, events: list[c.ChainEvent]) -> None:
    chain = merge(with_checkpoint)

    def drive() -> list[tuple[c.ChainState, list[c.ChainEffect]]]:
        state, seen = c.ChainState(), []
        for event in events:
            state, effects = c.transition(chain, state, event)
            seen.append((state, effects))
        return seen

    first, second = drive(), drive()
    assert first == second
    previous = c.ChainState()
    for (state, effects), event in zip(first, events, strict=True):
        if state.status in ("trying", "rolling_back"):
            assert 0 <= state.attempt < len(chain.attempts)
        if previous.status in c.TERMINAL and not (previous.status == "exhausted" and event.kind == "retry"):
            assert state == previous and effects == []
        for effect in effects:
            if isinstance(effect, c.RunRollback):
                assert effect.command == chain.attempts[effect.index].rollback
        assert len(state.failures) - len(previous.failures) == (previous.status == "trying" and event.kind in ("attempt_failed", "attempt_timeout"))
        previous = state
