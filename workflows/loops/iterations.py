"""One `run_iteration` as a loop (and a pipeline's agent step) runs it: on the host that holds the
workspace, and paused, never failed, at a provider's limit. The activity stops the agent at the
first sign of one (or when another run on the same credentials paused them), keeps the workspace
as the agent left it and answers with the pause; the run waits on a durable timer (pausing, the
instances' own loop) and runs the iteration again resuming the agent's session. The pause is no
iteration, no failed attempt and no step's retry: the caller sees the outcome of the attempt that
ran to its end."""

from __future__ import annotations

from collections.abc import Callable

from workflows.loops.models import IterationInput, IterationOutcome
from workflows.sdk.context import Context
from workflows.sdk.hosts import HostPlace, run_on_host
from workflows.sdk.pauses import pausing


async def run_iteration(ctx: Context, key: str, place: HostPlace, make: Callable[[int], IterationInput], seconds: float, summary: str) -> IterationOutcome:
    """The iteration's outcome; `make(move)` its input on the move-th host tried, `key` its tracked
    work (ctx.track), which shows its waits for quota. Raises as run_on_host does."""

    async def attempt(session: str | None, pauses: int) -> IterationOutcome:
        def made(move: int) -> IterationInput:
            inp = make(move)
            return inp.model_copy(update={"resume_session": session, "quota_pauses": pauses}) if pauses else inp

        outcome: IterationOutcome = await run_on_host(place, "run_iteration", made, IterationOutcome, seconds, summary, lambda move: f"instance/{key}")
        return outcome

    return await pausing(attempt, lambda outcome: outcome.agent, lambda until: ctx.quota_wait(key, until))
