"""Locks and semaphores across runs: slots handed out by a long-lived workflow per repository and name.

A semaphore has `max` slots; a lock is a semaphore with one. A run asks for a slot with an update
(`enqueue`, by update-with-start from an activity, so the first asker starts the workflow); a free
slot is granted at once, else the run waits in line, first come first served, and is granted the
slot by a signal when one frees up. While it holds the slot the run sends a `beat` every
`heartbeat` seconds and `release`s it when it is done, fails or is canceled. A holder whose beats
stopped for two heartbeats and a second (its worker died, it was terminated), or that held the slot past
`hold_timeout`, loses the slot: the next in line gets it and the holder is told by a signal.
Waiting costs nothing: no polling, only Temporal's timers and signals.

A semaphore nobody holds or waits for ends (Completed, its last state its result), so the Temporal
UI counts no idle lock as a running workflow; the next request starts it again. A request that
reaches it while its last task ends it is not lost: the server hands an update-with-start whose
workflow closed under it to a new run (and the activity asking is retried on older servers).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.coordination.states import LeaseHolder, LeaseWaiter, SemaphoreState, StaleRelease
from workflows.sdk.entities import LEASE_SIGNAL, LeaseEvent, LeaseRequest, LeaseStatus

SEMAPHORE_WORKFLOW = "orchard-semaphore"
KEPT_STALE = 100
IDLE_ENDS = "idle-semaphore-ends"
"""The patch under which an idle semaphore ends (before it: it ran until it continued as new)."""


def patience(heartbeat: float | None) -> timedelta:
    """How long a holder may go without a beat: two heartbeats, and a second for the server's
    timers (which fire to the second)."""
    return timedelta(seconds=2 * (heartbeat or 0) + 1)


def lease_deadline(state: SemaphoreState, holder: LeaseHolder) -> datetime | None:
    """When `holder` loses its slot if nothing changes: its patience after its last beat (with a
    heartbeat), or `hold_timeout` after it was granted the slot, whichever comes first; None: never."""
    deadlines = []
    if state.heartbeat is not None:
        deadlines.append(holder.beat + patience(state.heartbeat))
    if state.hold_timeout is not None:
        deadlines.append(holder.since + timedelta(seconds=state.hold_timeout))
    return min(deadlines) if deadlines else None


def stale_reason(state: SemaphoreState, holder: LeaseHolder, now: datetime) -> str | None:
    """Why `holder` loses its slot at `now` (its beats stopped, or it held the slot too long), or
    None while it keeps it."""
    due = lease_deadline(state, holder)
    if due is None or now < due:
        return None
    if state.heartbeat is not None and now >= holder.beat + patience(state.heartbeat):
        return f"no heartbeat for {(now - holder.beat).total_seconds():.1f}s (every {state.heartbeat:g}s expected)"
    return f"held for {(now - holder.since).total_seconds():.1f}s, past its timeout of {state.hold_timeout:g}s"


def next_stale_check(state: SemaphoreState, now: datetime) -> timedelta | None:
    """How long until the first holder's deadline (at least 0.1 s: a deadline just past is checked
    at once, not in a busy loop), or None when no holder has one."""
    deadlines = [d for h in state.holders if (d := lease_deadline(state, h)) is not None]
    if not deadlines:
        return None
    return max(min(deadlines) - now, timedelta(milliseconds=100))


@workflow.defn(name=SEMAPHORE_WORKFLOW)
class SemaphoreWorkflow:
    @workflow.init
    def __init__(self, state: SemaphoreState) -> None:
        self._state = state
        self._granted_here = 0
        self._changed = False
        """Set by the handlers: the holders changed, so the time of the next stale check may have too."""

    @workflow.run
    async def run(self, state: SemaphoreState) -> SemaphoreState:
        while True:
            if self._idle() and workflow.patched(IDLE_ENDS):
                await workflow.wait_condition(workflow.all_handlers_finished)
                # Handlers run before this code resumes: a request in this task made it busy again.
                if self._idle():
                    return self._state
            try:
                self._changed = False
                await workflow.wait_condition(lambda: self._changed or self._grantable() or self._should_continue(), timeout=self._until_next_stale())
            except TimeoutError:
                pass
            await self._take_back_stale()
            while self._grantable():
                await self._grant_next()
            if self._should_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state.model_copy(update={"stale": self._state.stale[-KEPT_STALE:]}))

    # -- handlers ---------------------------------------------------------------------------

    @workflow.update
    def enqueue(self, request: LeaseRequest) -> LeaseStatus:
        state, now = self._state, workflow.now()
        state.max, state.heartbeat, state.hold_timeout = request.max, request.heartbeat, request.hold_timeout  # the latest definition wins
        if any(h.token == request.token for h in state.holders):
            return LeaseStatus(granted=True)
        for position, waiter in enumerate(state.waiters, 1):
            if waiter.token == request.token:
                return LeaseStatus(granted=False, position=position)
        self._changed = True
        if not state.waiters and len(state.holders) < state.max:
            state.holders.append(LeaseHolder(token=request.token, holder=request.holder, label=request.label, since=now, beat=now))
            self._count_grant()
            return LeaseStatus(granted=True)
        state.waiters.append(LeaseWaiter(token=request.token, holder=request.holder, label=request.label, asked=now))
        return LeaseStatus(granted=False, position=len(state.waiters))

    @enqueue.validator
    def check_enqueue(self, request: LeaseRequest) -> None:
        if not request.holder:
            raise ValueError("a slot request names the workflow that holds it")

    @workflow.signal
    def release(self, token: str) -> None:
        """The holder is done (or gave up waiting)."""
        state = self._state
        self._changed = True
        state.holders = [h for h in state.holders if h.token != token]
        state.waiters = [w for w in state.waiters if w.token != token]

    @workflow.signal
    def beat(self, token: str) -> None:
        """A beat later than the patience allows does not revive a holder that went silent (its
        worker was down): it loses the slot all the same, whether the server hands this workflow
        the late beat or its own timer first."""
        now = workflow.now()
        for holder in self._state.holders:
            if holder.token == token:
                if now < holder.beat + self._patience():
                    holder.beat = now
                else:
                    self._changed = True

    @workflow.query
    def state(self) -> SemaphoreState:
        return self._state

    # -- granting ---------------------------------------------------------------------------

    def _idle(self) -> bool:
        return not self._state.holders and not self._state.waiters

    def _grantable(self) -> bool:
        return bool(self._state.waiters) and len(self._state.holders) < self._state.max

    def _should_continue(self) -> bool:
        return self._granted_here >= self._state.grants_per_run or workflow.info().is_continue_as_new_suggested()

    def _count_grant(self) -> None:
        self._state.granted += 1
        self._granted_here += 1

    async def _grant_next(self) -> None:
        state, now = self._state, workflow.now()
        waiter = state.waiters.pop(0)
        holder = LeaseHolder(token=waiter.token, holder=waiter.holder, label=waiter.label, since=now, beat=now)
        state.holders.append(holder)
        self._count_grant()
        if not await self._tell(holder.holder, LeaseEvent(name=state.name, token=holder.token, event="granted")):
            state.holders.remove(holder)  # the run is over: the slot goes to the next in line

    async def _tell(self, workflow_id: str, event: LeaseEvent) -> bool:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(LEASE_SIGNAL, event)
            return True
        except ApplicationError as e:
            if e.type == "ExternalWorkflowExecutionNotFound":
                return False
            raise

    # -- stale holders ----------------------------------------------------------------------

    def _patience(self) -> timedelta:
        return patience(self._state.heartbeat)

    def _until_next_stale(self) -> timedelta | None:
        return next_stale_check(self._state, workflow.now())

    async def _take_back_stale(self) -> None:
        state, now = self._state, workflow.now()
        for holder in list(state.holders):
            reason = stale_reason(state, holder, now)
            if reason is None:
                continue
            state.holders.remove(holder)
            state.stale.append(StaleRelease(token=holder.token, holder=holder.holder, label=holder.label, at=now, reason=reason))
            workflow.logger.warning("%s: took the slot back from %s: %s", state.name, holder.holder, reason)
            await self._tell(holder.holder, LeaseEvent(name=state.name, token=holder.token, event="lost", reason=reason))
