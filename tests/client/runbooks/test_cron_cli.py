"""`orchard runbook cron start|list|pause|unpause|trigger|stop` against a real Temporal server and
worker: a runbook's cron is a Temporal Schedule (listed by Temporal, paused with its note, triggered
while paused), and a triggered run really checks its monitor at the repository's root: it removes
what matches, leaves what does not and what [safety] protects, and fires its events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.cli import build_parser
from client.commands.runbook import cmd_runbook
from client.errors import UsageError
from orchard_common.connection import has_poller
from tests.conftest import git, make_repo
from tests.scripted import until
from workflows.sdk.models import RunResult

JANITOR = """
# A janitor in otters' idiom: a cron every 5 minutes, one monitor that cleans, [safety].
[cron.janitor]
interval = "5m"
monitors = ["old_logs"]

[monitor.old_logs]
source = "find logs -name '*.log' | sort"
condition = "test {path} != logs/keep.log"
run = "rm {path}"

[cron.janitor.events]
on_clean = "echo cleaned {path} >> events.txt"
on_skip = "echo skipped {path} >> events.txt"

[safety]
protected = [".git", "logs/important.log", "main"]

[cron.nightly]
interval = "1d"
run = "true"
enabled = false
"""


async def cron(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    code = await cmd_runbook(build_parser().parse_args(["runbook", "cron", *argv]))
    assert code == 0
    return capsys.readouterr().out.splitlines()


async def test_a_cron_is_a_schedule_that_is_listed_paused_triggered_and_runs_its_monitor(client, named_server, task_queue, tmp_path, capsys):
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    (repo / "runbooks" / "janitor.toml").write_text(JANITOR)
    (repo / "logs").mkdir()
    for name in ("a.log", "keep.log", "important.log"):
        (repo / "logs" / name).write_text("x\n")
    where = ["--address", named_server, "--runbooks", str(repo / "runbooks"), "--repo", str(repo)]
    await until(lambda: has_poller(client, task_queue), timeout=20)  # the session's worker, just started, polls

    (started,) = await cron(capsys, "start", "janitor.janitor", *where, "--task-queue", task_queue)
    assert started.startswith("cron janitor: schedule cron_janitor.janitor_") and "made: every 5m, monitors old_logs" in started
    schedule_id = started.split("schedule ", 1)[1].split()[0]
    await until(lambda: _listed_by_temporal(client, schedule_id), timeout=20)  # Temporal's own: the UI's Schedules page lists it
    (nightly,) = await cron(capsys, "start", "nightly", *where, "--task-queue", task_queue)
    assert "made: paused, its run" in nightly  # enabled = false

    listed = [json.loads(line) for line in await cron(capsys, "list", "--output", "json", *where)]
    assert [(c["cron"], c["state"], c["interval"]) for c in listed] == [("janitor.janitor", "running", 300.0), ("janitor.nightly", "paused", 86400.0)]
    assert "next" in listed[0] and listed[1]["note"].startswith("enabled = false")

    assert await cron(capsys, "pause", "janitor", "--note", "logs are being read", *where) == [
        "cron janitor: paused (`orchard runbook cron unpause janitor` starts it again)"]
    (row, _) = await cron(capsys, "list", *where)
    assert row.startswith("janitor.janitor") and "paused (logs are being read), 0 runs" in row

    assert await cron(capsys, "trigger", "janitor", *where) == ["cron janitor: a run starts now (the schedule stays paused)"]
    handle = client.get_schedule_handle(schedule_id)
    described = await until(lambda: _ran_once(handle), timeout=30)
    run = client.get_workflow_handle(described.info.recent_actions[-1].action.workflow_id, result_type=RunResult)
    result = await run.result()
    assert result.instances[0].selection.reason == "1 handled, 1 skipped"
    assert sorted(p.name for p in (repo / "logs").iterdir()) == ["important.log", "keep.log"]
    assert (repo / "events.txt").read_text().splitlines() == ["cleaned logs/a.log", "skipped logs/important.log"]

    assert await cron(capsys, "unpause", "janitor", *where) == ["cron janitor: running, every 5m"]
    (row, _) = await cron(capsys, "list", *where)
    assert "running, 1 run" in row and f"last_run {run.id}" in row
    assert (await cron(capsys, "stop", "janitor", *where))[0] == f"cron janitor: schedule {schedule_id} deleted (a run going on finishes)"
    await cron(capsys, "stop", "nightly", *where)

    async def gone() -> bool:
        (row, _) = await cron(capsys, "list", *where)
        return "not started" in row

    await until(gone, timeout=20)
    with pytest.raises(UsageError, match=r"^cron janitor has no schedule on this repository: start it with `orchard runbook cron start janitor`$"):
        await cron(capsys, "trigger", "janitor", *where)
    with pytest.raises(UsageError, match=r"^runbook janitor has no cron 'janitr' \(did you mean 'janitor'\?\); its crons: janitor, nightly$"):
        await cron(capsys, "pause", "janitor.janitr", *where)


async def _listed_by_temporal(client, schedule_id: str) -> bool:  # type: ignore[no-untyped-def]
    return schedule_id in [s.id async for s in await client.list_schedules()]  # its visibility follows within a moment


async def _ran_once(handle):  # type: ignore[no-untyped-def]
    described = await handle.describe()
    return described if described.info.recent_actions else None


def test_a_cron_s_problems_are_one_line_each_with_their_place(tmp_path: Path) -> None:
    from client.runbooks.registry import load_runbooks, runbook_files

    (tmp_path / "ops.toml").write_text(JANITOR.replace('monitors = ["old_logs"]', 'monitors = ["old_logz"]'))
    problems = [f"{p.place}: {p.message}" for p in load_runbooks(runbook_files(tmp_path)).problems]
    assert problems == ["cron.janitor: monitors: monitor 'old_logz' is not defined (did you mean 'old_logs'?); monitors: old_logs"]


def test_list_and_validate_name_the_crons_and_monitors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from client.cli import main

    (tmp_path / "janitor.toml").write_text(JANITOR)
    assert main(["runbook", "validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("janitor.toml: valid: 2 crons, 1 monitor")
    assert main(["runbook", "list", "--runbooks", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  cron      janitor: every 5m -> old_logs",
        "  cron      nightly: every 1d -> its run (enabled = false)",
        "  monitor   old_logs: $ find logs -name '*.log' | sort -> run",
    ]


REMOTE_JANITOR = """
[cron.janitor]
interval = "5m"
monitors = ["old_logs"]

[monitor.old_logs]
source = "find $PWD/logs -name '*.log' | sort"
run = "rm {path} && echo removed {path} >> $HOME_LOG"

[safety]
protected = ["logs/important.log"]
"""


@pytest.mark.slow  # a real run of the cron on the session's worker, with git
async def test_a_cron_on_a_remote_reads_and_acts_in_a_checkout_of_its_branch(client, named_server, task_queue, tmp_path, capsys, monkeypatch):
    repo = make_repo(tmp_path / "repo", {"logs/a.log": "x\n", "logs/important.log": "x\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "janitor.toml").write_text(REMOTE_JANITOR.replace("$HOME_LOG", str(tmp_path / "removed.txt")))
    monkeypatch.chdir(repo)
    where = ["--address", named_server, "--runbooks", str(tmp_path / "runbooks")]
    await until(lambda: has_poller(client, task_queue), timeout=20)

    (started,) = await cron(capsys, "start", "janitor", *where, "--remote", "origin", "--task-queue", task_queue)
    schedule_id = started.split("schedule ", 1)[1].split()[0]
    with pytest.raises(UsageError, match=r"^cron janitor has no schedule on this repository: start it with `orchard runbook cron start janitor`$"):
        await cron(capsys, "trigger", "janitor", *where)  # the repository's own cron is another
    assert await cron(capsys, "trigger", "janitor", *where, "--remote", "origin") == ["cron janitor: a run starts now"]
    handle = client.get_schedule_handle(schedule_id)
    described = await until(lambda: _ran_once(handle), timeout=30)
    run = client.get_workflow_handle(described.info.recent_actions[-1].action.workflow_id, result_type=RunResult)
    assert (await run.result()).instances[0].selection.reason == "1 handled, 1 skipped"  # important.log: [safety], by its path in the checkout
    (removed,) = (tmp_path / "removed.txt").read_text().splitlines()
    checkout = Path(removed.split()[1]).parents[1]
    assert removed == f"removed {checkout}/logs/a.log" and checkout.parent == tmp_path / "orchard-home" / "checkouts"
    assert (repo / "logs" / "a.log").is_file()  # your checkout is never touched: the cron acted on the host's checkout of the remote's branch
    (row,) = [line for line in await cron(capsys, "list", *where, "--remote", "origin") if line.startswith("janitor.janitor")]
    assert "running, 1 run" in row
    assert (await cron(capsys, "stop", "janitor", *where, "--remote", "origin"))[0] == f"cron janitor: schedule {schedule_id} deleted (a run going on finishes)"
