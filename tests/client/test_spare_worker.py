"""The spare worker is claimed only when it is ready and of this code (client/embedded/spare_worker.py);
the end-to-end path: tests/e2e/test_spare_worker.py."""

from __future__ import annotations

import os

from activities.ownership import OwnedProcess
from client.embedded import spare_worker
from client.embedded.processes import state_dir


def test_without_a_ready_spare_of_this_code_nothing_is_claimed_and_a_worker_starts_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "home"))
    log = tmp_path / "worker.log"
    assert spare_worker.claim(["--task-queue", "q"], {}, log, []) is None  # none runs
    me = OwnedProcess.of(os.getpid())
    assert me is not None
    (state_dir("warm") / "spare.pid").write_text(me.model_dump_json())  # a live process the record proves
    assert spare_worker.claim(["--task-queue", "q"], {}, log, []) is None  # not ready: no code recorded yet
    (state_dir("warm") / "spare.code").write_text("0" * 16)
    assert spare_worker.claim(["--task-queue", "q"], {}, log, []) is None  # another code's: never claimed
    assert (state_dir("warm") / "spare.pid").exists() and not spare_worker._claimed
