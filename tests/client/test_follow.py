"""Following a run (client/follow.py): the command learns the run has ended as the server records
it, not at its next poll."""

from __future__ import annotations

import time

from client import follow as following
from client.snapshots import Outcome, Snapshot
from tests.conftest import start_scripted
from tests.scripted import Script


class _Silent:
    def update(self, snapshot: Snapshot) -> None:
        pass

    def finish(self, outcome: Outcome) -> None:
        pass


async def test_a_followed_run_is_seen_to_end_as_it_closes_not_at_the_next_poll(client, scripted_queue, monkeypatch):
    monkeypatch.setattr(following, "POLL_SECONDS", 60.0)  # a poll would see the end a minute late
    handle = await start_scripted(client, scripted_queue, "simple", Script(delays={".*": 1.0}))
    started = time.monotonic()
    outcome = await following.follow(client, handle.id, _Silent())
    assert outcome.status == "success"
    assert time.monotonic() - started < 20  # its end, told by the server's answer to the result's long poll
