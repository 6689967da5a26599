"""Rotations: turns handed out one at a time by a long-lived workflow per repository and name.

`round-robin` takes one turn per run (`ctx.take_turn`). The rotation's state is the workflow's
own: Temporal keeps it across worker and server restarts. Turns are given out by a synchronous
update handler, so concurrent requests are served one after another and never share a turn; a
run that asks again (a retried activity) gets its own turn back. The workflow continues as new
every `turns_per_run` turns, carrying the counter and the most recent turns.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.coordination.states import RotationState, TurnRequest
from workflows.sdk.entities import Turn
from workflows.sdk.models import key_hash8

ROTATION_WORKFLOW = "orchard-rotation"
KEPT_TURNS = 1000
"""Turns a rotation remembers (and lists); older ones are dropped at continue-as-new."""


def rotation_id(repo: str, rotation: str) -> str:
    """The rotation's fixed workflow id: one per repository and name."""
    return f"orchard-rotation-{key_hash8(repo)}-{rotation}"


@workflow.defn(name=ROTATION_WORKFLOW)
class RotationWorkflow:
    @workflow.init
    def __init__(self, state: RotationState) -> None:
        self._state = state
        self._given = 0

    @workflow.run
    async def run(self, state: RotationState) -> None:
        await workflow.wait_condition(
            lambda: self._given >= state.turns_per_run or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state.model_copy(update={"turns": self._state.turns[-KEPT_TURNS:]}))

    @workflow.update
    def take_turn(self, request: TurnRequest) -> Turn:
        for turn in reversed(self._state.turns):
            if turn.run_id == request.run_id:
                return turn
        number = self._state.next_number
        turn = Turn(number=number, choice=request.options[number % len(request.options)], run_id=request.run_id, at=workflow.now())
        self._state.turns.append(turn)
        self._state.next_number += 1
        self._given += 1
        return turn

    @workflow.query
    def state(self) -> RotationState:
        return self._state
