"""When a semaphore takes a slot back: from a holder whose beats stopped (two heartbeats and a
second after its last beat) or that held it past its `hold_timeout`. The semaphore workflow decides
by these pure functions at its timers: tested here without a server, to the second (the end-to-end
versions, with real heartbeats, are slow: tests/workflows/sdk/test_leases.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.coordination.semaphores import lease_deadline, next_stale_check, stale_reason
from workflows.coordination.states import LeaseHolder, SemaphoreState

T = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def holder(token: str = "t1", since: float = 0, beat: float | None = None) -> LeaseHolder:
    """A holder granted its slot at T+`since`, whose last beat was at T+`beat` (else when it was granted)."""
    return LeaseHolder(token=token, holder=f"run-{token}", since=at(since), beat=at(since if beat is None else beat))


def semaphore(heartbeat: float | None = None, hold_timeout: float | None = None, *holders: LeaseHolder) -> SemaphoreState:
    return SemaphoreState(name="lock", repo="/repo", heartbeat=heartbeat, hold_timeout=hold_timeout, holders=list(holders))


def test_a_holder_whose_beats_stop_loses_its_slot_two_heartbeats_and_a_second_after_its_last_beat():
    state, silent = semaphore(0.5), holder()
    assert lease_deadline(state, silent) == at(2.0)
    assert stale_reason(state, silent, at(0)) is None
    assert stale_reason(state, silent, at(1.99)) is None
    assert stale_reason(state, silent, at(2.0)) == "no heartbeat for 2.0s (every 0.5s expected)"
    assert stale_reason(state, silent, at(3600)) == "no heartbeat for 3600.0s (every 0.5s expected)"  # silent for good: still taken back
    state = semaphore(30)
    assert stale_reason(state, holder(), at(60.9)) is None and stale_reason(state, holder(), at(61)) == "no heartbeat for 61.0s (every 30s expected)"


def test_each_beat_moves_the_deadline():
    state = semaphore(0.5)
    beating = holder(since=0, beat=10)  # granted at T, beat last at T+10
    assert lease_deadline(state, beating) == at(12)
    assert stale_reason(state, beating, at(11.9)) is None  # long past its grant's patience, but it beats
    assert stale_reason(state, beating, at(12.5)) == "no heartbeat for 2.5s (every 0.5s expected)"


def test_a_holder_past_its_hold_timeout_loses_its_slot_though_it_beats():
    state = semaphore(None, 30)
    assert lease_deadline(state, holder(since=5)) == at(35)
    assert stale_reason(state, holder(since=5), at(34.9)) is None
    assert stale_reason(state, holder(since=5), at(35)) == "held for 30.0s, past its timeout of 30s"
    state = semaphore(0.5, 30)
    beating = holder(since=0, beat=29.5)
    assert stale_reason(state, beating, at(29.9)) is None
    assert stale_reason(state, beating, at(30.0)) == "held for 30.0s, past its timeout of 30s"
    silent = holder(since=0, beat=1)  # beats stopped before the timeout: that is what it says
    assert lease_deadline(state, silent) == at(3) and stale_reason(state, silent, at(3)) == "no heartbeat for 2.0s (every 0.5s expected)"


def test_without_a_heartbeat_or_a_timeout_a_holder_keeps_its_slot():
    state = semaphore(None, None, holder())
    assert lease_deadline(state, holder()) is None
    assert stale_reason(state, holder(), at(365 * 86400)) is None
    assert next_stale_check(state, at(0)) is None


def test_the_next_check_is_at_the_first_holder_s_deadline():
    state = semaphore(0.5, None, holder("a", beat=4), holder("b", beat=1), holder("c", beat=3))
    assert next_stale_check(state, at(1.5)) == timedelta(seconds=1.5)  # b's, at T+3
    assert next_stale_check(state, at(2.95)) == timedelta(milliseconds=100)  # due within 0.1 s: checked 0.1 s on
    assert next_stale_check(state, at(10)) == timedelta(milliseconds=100)  # past due (its worker was down): checked at once, not at a time past
    assert next_stale_check(semaphore(0.5), at(0)) is None  # nobody holds it: no timer
    timed = semaphore(None, 60, holder("a", since=10), holder("b", since=0))
    assert next_stale_check(timed, at(20)) == timedelta(seconds=40)
