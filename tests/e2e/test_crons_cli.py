"""`orchard runbook cron` as a user runs it, on the embedded server: a janitor in otters' idiom
started as a schedule, triggered, its monitor cleaning the repository; the schedule, paused with
a note, still there after the server restarts; then stopped."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import make_repo, orchard, stop_embedded

pytestmark = pytest.mark.slow

JANITOR = """
[cron.janitor]
interval = "1h"
monitors = ["old_logs"]

[monitor.old_logs]
source = "find logs -name '*.log' | sort"
condition = "test {path} != logs/keep.log"
run = "rm {path}"

[cron.janitor.events]
on_clean = "echo cleaned {path} >> cleaned.txt"

[safety]
protected = [".git", "logs/important.log"]
"""


def listed(env: dict, repo) -> dict:  # type: ignore[no-untyped-def]
    done = orchard("runbook", "cron", "list", "--output", "json", env=env, cwd=repo)
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    return row


def test_a_janitor_s_schedule_runs_when_triggered_and_survives_a_restart_of_the_server(embedded, tmp_path):
    home, env, _, _ = embedded
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    (repo / "runbooks" / "janitor.toml").write_text(JANITOR)
    (repo / "logs").mkdir()
    for name in ("a.log", "b.log", "keep.log", "important.log"):
        (repo / "logs" / name).write_text("x\n")
    started = orchard("runbook", "cron", "start", "janitor.janitor", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    assert "made: every 1h, monitors old_logs; UI: http://" in started.stdout
    assert listed(env, repo)["state"] == "running"

    assert orchard("runbook", "cron", "trigger", "janitor", env=env, cwd=repo).returncode == 0
    deadline = time.monotonic() + 60
    while not (row := listed(env, repo)).get("last_run") or not (repo / "cleaned.txt").exists() or len((repo / "cleaned.txt").read_text().split()) < 4:
        assert time.monotonic() < deadline, row
        time.sleep(0.5)
    assert sorted(p.name for p in (repo / "logs").iterdir()) == ["important.log", "keep.log"]
    assert (repo / "cleaned.txt").read_text().splitlines() == ["cleaned logs/a.log", "cleaned logs/b.log"]
    shown = orchard("show", row["last_run"], "--output", "json", env=env, cwd=repo)
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "success"

    paused = orchard("runbook", "cron", "pause", "janitor", "--note", "logs are read today", env=env, cwd=repo)
    assert paused.returncode == 0, paused.stderr
    stop_embedded(home)  # the server (and its worker) go; the schedule is in its database
    row = listed(env, repo)  # starts the server again
    assert (row["state"], row["note"], row["runs"]) == ("paused", "logs are read today", 1)
    stopped = orchard("runbook", "cron", "stop", "janitor", env=env, cwd=repo)
    assert stopped.returncode == 0 and "deleted" in stopped.stdout
    assert listed(env, repo)["state"] == "not started"
    again = orchard("runbook", "cron", "trigger", "janitor", env=env, cwd=repo)
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        "orchard: cron janitor has no schedule on this repository: start it with `orchard runbook cron start janitor`"]
