"""otters' runbooks end to end (issue 26, item 11): runbooks written in otters' idioms
(tests/runbooks/otters: bugfix, build, build.minimal, mergeq, loop) run by the orchard command on
the embedded server, with stand-ins for otters' own tools on PATH (tests/e2e/otters_tools.py:
`wok`, `oj`, and `claude --print` as the agent). What a user checks: the branches, main, what the
runbooks asked of wok and oj, and the queue items each worker took."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, make_repo, orchard

pytestmark = pytest.mark.slow

TOOLS = Path(__file__).with_name("otters_tools.py")
OTTERS = ROOT / "tests" / "runbooks" / "otters"
WOK = [
    {"id": 1, "type": "bug", "title": "Crash on save", "status": "todo", "labels": ["bug"], "priority": 2},
    {"id": 2, "type": "bug", "title": "Wrong total", "status": "todo", "labels": ["bug"], "priority": 1, "description": "Off by one."},
    {"id": 3, "type": "bug", "title": "Someone has it", "status": "in_progress", "labels": ["bug"], "priority": 3},
    {"id": "i1", "type": "issue", "title": "Add a greeting", "status": "todo", "labels": ["mod:cli"], "priority": 1},
]


def _on_path(folder: Path) -> None:
    folder.mkdir()
    for tool in ("wok", "oj", "claude"):
        (folder / tool).write_text(f'#!/bin/sh\nexec {sys.executable} {TOOLS} {tool} "$@"\n')
        (folder / tool).chmod(0o755)


def _until(check, what: str, status, seconds: float = 180) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check(shown := status()):
        assert time.monotonic() < deadline, f"{what}:\n{shown}"
        time.sleep(0.5)
    return shown


def test_otters_runbooks_run_end_to_end_with_stand_ins_for_wok_and_oj(embedded, tmp_path):
    _, env, _, _ = embedded
    state = tmp_path / "state"
    state.mkdir()
    _on_path(tmp_path / "bin")
    env = {**env, "PATH": f"{tmp_path / 'bin'}:{env['PATH']}", "OTTERS_STATE": str(state)}
    (state / "wok.json").write_text(json.dumps(WOK))
    # The stand-in agents keep their state in $OTTERS_STATE, a folder of the test's outside their workspaces: the local runner, which allows it
    repo = make_repo(tmp_path / "repo", {"README.md": "# app\n", "Makefile": "test:\n\ttest -f README.md\n", "orchard.yaml": "runner: {type: local}\n"})
    shutil.copytree(OTTERS, repo / "runbooks")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "runbooks")
    git(repo, "checkout", "-q", "-b", "work")  # main is published: it must not be checked out here

    def calls() -> list[str]:
        return (state / "calls.log").read_text().splitlines()

    checked = orchard("runbook", "validate", env=env, cwd=repo)
    assert checked.returncode == 0 and checked.stdout.count(": valid: ") == 10, checked.stdout + checked.stderr

    # build: a command, on the branch its defaults name, through `blocked`, with braces that are text
    built = orchard("runbook", "run", "build.command.build", "auth", "Add auth", "--after", "setup", "--output", "json", env=env, cwd=repo, timeout=240)
    assert built.returncode == 0, built.stdout + built.stderr
    (run,) = json.loads(built.stdout.strip().splitlines()[-1])["instances"]
    phases = [(p["phase"], p["ok"]) for p in run["metadata"]["phases"]]
    assert phases == [("init", True), ("blocked", True), ("plan", True), ("execute", True), ("merge", True), ("done", True)]
    assert run["branch_name"] == "feature/auth" and git(repo, "rev-parse", "main") == git(repo, "rev-parse", "feature/auth")
    assert git(repo, "show", "main:plans/auth.md").startswith("epic: auth") and git(repo, "show", "main:src/auth.txt") == "built auth"
    done = run["metadata"]["outputs"]["done"]
    assert done.endswith(f"built auth on feature/auth in run {json.loads(built.stdout.strip().splitlines()[-1])['run_id']}")
    assert "plans/auth.md" in done  # find ... -exec wc -l {} \;
    assert {"wok new feature Add auth -l plan:auth", "oj pipeline show setup --phase", "wok done f-5", "wok note f-5 merged from feature/auth",
            "oj emit pipeline:complete --id auth"} <= set(calls())
    assert "oj emit pipeline:phase --id auth --phase blocked" in calls()

    # build.minimal beside it: its own runbook, on Orchard's own branch
    minimal = orchard("runbook", "run", "build.minimal.command.build", "mini", "A small thing", "--output", "json", env=env, cwd=repo, timeout=240)
    assert minimal.returncode == 0, minimal.stdout + minimal.stderr
    (small,) = json.loads(minimal.stdout.strip().splitlines()[-1])["instances"]
    assert small["branch_name"].startswith("orchard/runbook/build/") and git(repo, "show", f"{small['branch_name']}:src/mini.txt") == "built mini"

    # bugfix: a worker takes the bugs wok lists, each fixed on fix/<id>, merged, its branch deleted, the bug closed
    started = orchard("runbook", "worker", "start", "bugfix.bugfix", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr

    def bugfix_status() -> str:
        return orchard("runbook", "worker", "status", "bugfix.bugfix", env=env, cwd=repo).stdout

    shown = _until(lambda s: "  1                done" in s and "  2                done" in s, "bugs 1 and 2 never got done", bugfix_status)
    assert "  3 " not in shown  # in progress: wok does not list it
    orchard("runbook", "worker", "stop", "bugfix.bugfix", env=env, cwd=repo)
    assert [git(repo, "show", f"main:fixes/{n}.txt") for n in (1, 2)] == ["fixed 1: Crash on save", "fixed 2: Wrong total"]
    assert git(repo, "branch", "--list", "fix/*") == ""  # each run's own branch, deleted by its cleanup
    assert {"wok start 1", "wok done 1", "oj emit bugfix:complete --bug 1 --branch fix/1", "oj emit bugfix:complete --bug 2 --branch fix/2"} <= set(calls())
    assert {i["id"]: i["status"] for i in json.loads((state / "wok.json").read_text()) if i["type"] == "bug"} == {1: "done", 2: "done", 3: "in_progress"}

    # mergeq: an item's fields fill its pipeline's inputs; a branch that is not there is removed from the queue and dead-lettered
    blob = git(repo, "hash-object", "-w", "--stdin", input="extra\n")
    tree = git(repo, "mktree", input=git(repo, "ls-tree", "main") + f"\n100644 blob {blob}\tEXTRA.md\n")
    git(repo, "branch", "feature/extra", git(repo, "commit-tree", tree, "-p", "main", "-m", "Extra"))  # someone's branch, on main
    (state / "queue-merges.json").write_text(json.dumps([
        {"id": "m1", "branch": "feature/extra", "pipeline": "", "priority": 2, "created_at": "2026-01-01T00:00:00Z"},
        {"id": "m2", "branch": "feature/gone", "pipeline": "", "priority": 1, "created_at": "2026-01-02T00:00:00Z"},
    ]))
    started = orchard("runbook", "worker", "start", "mergeq.mergeq", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr

    def mergeq_status() -> str:
        return orchard("runbook", "worker", "status", "mergeq.mergeq", env=env, cwd=repo).stdout

    shown = _until(lambda s: "  m1               done" in s and "  m2               dead" in s, "m1 never merged and m2 never dead", mergeq_status)
    orchard("runbook", "worker", "stop", "mergeq.mergeq", env=env, cwd=repo)
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "feature/extra") and git(repo, "show", "main:EXTRA.md") == "extra"
    assert {"oj queue complete merges m1", "oj queue remove merges m2", "oj emit merge:complete --branch feature/extra --pipeline "} <= set(calls())
    assert any(c.startswith("oj emit merge:dead --id m2 --branch feature/gone --reason phase validate failed: pre guard branch_exists does not hold")
               for c in calls())
    assert json.loads((state / "queue-merges.json").read_text()) == []

    # loop: a task takes each ready issue, named after its queue ({issue}), through otters' filter
    started = orchard("runbook", "worker", "start", "loop.loop", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    def loop_status() -> str:
        return orchard("runbook", "worker", "status", "loop.loop", env=env, cwd=repo).stdout

    _until(lambda s: "  i1               done" in s, "issue i1 never got done", loop_status)
    orchard("runbook", "worker", "stop", "loop.loop", env=env, cwd=repo)
    resolved = [b for b in git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchard/").split()
                if git(repo, "ls-tree", "--name-only", b, "issues/i1.txt")]
    assert len(resolved) == 1 and git(repo, "show", f"{resolved[0]}:issues/i1.txt") == "resolved: Add a greeting"
    assert "wok done i1" in calls()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "work" and git(repo, "status", "--porcelain") == ""
