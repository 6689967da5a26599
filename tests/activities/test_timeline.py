"""ORCHARD_TIMELINE: a bench's marks of a run's start, never a run's problem."""

from __future__ import annotations

import os

from activities.timeline import TIMELINE_ENV, mark


def test_each_mark_is_a_line_with_its_time_process_and_step_and_nothing_without_the_variable(tmp_path, monkeypatch):
    timeline = tmp_path / "timeline"
    monkeypatch.delenv(TIMELINE_ENV, raising=False)
    mark("command: imported")
    assert not timeline.exists()
    monkeypatch.setenv(TIMELINE_ENV, str(timeline))
    mark("command: imported")
    mark("worker: polling")
    lines = [line.split(" ", 2) for line in timeline.read_text().splitlines()]
    assert [(pid, step) for _, pid, step in lines] == [(str(os.getpid()), "command: imported"), (str(os.getpid()), "worker: polling")]
    assert float(lines[0][0]) <= float(lines[1][0])


def test_a_timeline_that_cannot_be_written_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(TIMELINE_ENV, str(tmp_path / "no such folder" / "timeline"))
    mark("command: imported")  # no error
