"""A cron's monitors and commands on a remote run in this host's checkout of the cron's base branch,
as the remote has it at that moment (real git, a bare remote); on a local repository, at its root."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.runbooks.monitors import check_runbook_monitor, run_runbook_command
from activities.workspaces.checkout import checkouts_dir
from tests.conftest import git, make_repo
from workflows.runbooks.model import MonitorDef, Template
from workflows.runbooks.monitors import CommandInput, MonitorCheckInput


def _monitor(source: str) -> MonitorDef:
    return MonitorDef(ref="ops.monitor.stale", name="stale", source=Template(source=source, runbook="ops"),
                      condition=Template(source="test -f {path}", runbook="ops"))


async def test_on_a_remote_a_cron_reads_and_acts_in_a_checkout_of_its_branch_as_the_remote_has_it_now(tmp_path: Path,
                                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "host"))
    source = make_repo(tmp_path / "source", {"logs/a.log": "x\n", "stale.txt": "logs/a.log\nlogs/gone.log\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    env = ActivityEnvironment()
    check = await env.run(check_runbook_monitor, MonitorCheckInput(repo=bare.as_uri(), base_branch="main", monitor=_monitor("cat stale.txt")))
    assert (check.error, check.listed, [m.item for m in check.matched]) == ("", 2, ["logs/a.log"])  # gone.log is in no checkout
    assert Path(check.root).parent == checkouts_dir() and (Path(check.root) / "logs" / "a.log").is_file()

    (source / "logs" / "b.log").write_text("y\n")  # the remote moves on: the next command sees it
    git(source, "add", "-A")
    git(source, "commit", "-qm", "another log")
    git(source, "push", "-q", str(bare), "main")
    done = await env.run(run_runbook_command, CommandInput(repo=bare.as_uri(), base_branch="main", command="ls logs; pwd", label="list"))
    assert done.exit_code == 0 and done.output_tail.splitlines() == ["a.log", "b.log", check.root]

    missing = await env.run(check_runbook_monitor, MonitorCheckInput(repo=bare.as_uri(), base_branch="nope", monitor=_monitor("true")))
    assert missing.error == f"the branch nope is not on {bare.as_uri()}"
    with pytest.raises(ApplicationError, match="^BranchMissing: the branch nope is not on "):
        await env.run(run_runbook_command, CommandInput(repo=bare.as_uri(), base_branch="nope", command="true", label="x"))


async def test_on_a_local_repository_a_cron_works_at_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHARD_HOME", str(tmp_path / "host"))
    repo = make_repo(tmp_path / "repo", {"stale.txt": "stale.txt\n"})
    check = await ActivityEnvironment().run(check_runbook_monitor, MonitorCheckInput(repo=str(repo), monitor=_monitor("cat stale.txt")))
    assert ([m.item for m in check.matched], check.root) == (["stale.txt"], str(repo))
    assert not checkouts_dir().exists()
