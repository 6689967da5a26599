"""`orchard runbook run` as a user runs it: the embedded server, the demo agent, examples/runbooks."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import DEMO_AGENT, ROOT, git, make_repo, orchard, pid_in

pytestmark = pytest.mark.slow


def the_build_example_plans_builds_verifies_and_fast_forwards_main(env: dict, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# app\n", "Makefile": "test:\n\ttest -f README.md\n"})
    shutil.copytree(ROOT / "examples" / "runbooks", repo / "runbooks")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "runbooks")
    git(repo, "checkout", "-q", "-b", "work")  # main is published: it must not be checked out here
    main_before = git(repo, "rev-parse", "main")
    pwned = [tmp_path / f"pwned-{n}" for n in range(4)]  # the done phase puts the reviewer inside '...' of a shell command (issue 24, item 5)
    reviewer = f"alice $(touch {pwned[0]}) `touch {pwned[1]}`; touch {pwned[2]} | touch {pwned[3]} 'it''s\n\"x\""
    done = orchard("runbook", "run", "build", "auth", "Add login", "--reviewer", reviewer,  # Orchard's options after the command's (issue 24, item 14)
                   "--base-branch", "main", "--agent-command", DEMO_AGENT, "--output", "json", env=env, cwd=repo, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(p.exists() for p in pwned)
    result = json.loads(done.stdout.splitlines()[-1])
    outputs = result["instances"][0]["metadata"]["outputs"]
    assert outputs["done"].strip() == f"Merged Auth ({outputs['init'].strip()}); review by {reviewer}"
    done = orchard("show", done_id := result["run_id"], env=env, cwd=repo)
    rows = [line.split("│") for line in done.stdout.splitlines() if line.count("│") == 7]  # the phases table that ends the run
    assert [(r[1].strip(), r[4].strip()) for r in rows] == [(p, "done") for p in ("init", "plan", "execute", "verify", "merge", "done")]
    branch = f"orchard/runbook/build/{done_id}"
    main = git(repo, "rev-parse", "main")
    assert main != main_before and main == git(repo, "rev-parse", branch)  # the merge chain's fast-forward, published
    assert git(repo, "show", "main:plans/auth.md")  # the planning agent's plan (its post guard checked it)
    assert len(git(repo, "log", "--format=%s", f"{main_before}..main").splitlines()) >= 2  # the plan's commit and the implementation's
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "work" and git(repo, "status", "--porcelain") == ""


def test_runbooks_on_one_server(embedded, tmp_path):
    """The build example, then two queue workers on two repositories, on one embedded server (one started for all)."""
    _, env, _, _ = embedded
    the_build_example_plans_builds_verifies_and_fast_forwards_main(env, tmp_path / "build")
    handles_each_item_once_retries_and_dead_letters_then_stops(env, tmp_path / "a")
    the_bugfix_example_fixes_three_bugs_two_at_a_time_and_a_person_finishes_the_one_that_escalates(env, tmp_path / "b")


def handles_each_item_once_retries_and_dead_letters_then_stops(env: dict, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    dead = tmp_path / "dead.txt"
    (repo / "runbooks" / "ops.toml").write_text(f"""
[worker.fixer]
queue = "bugs"
handler = "pipeline.fix"
concurrency = 2
idle_action = "wait:10m"
wake_on = ["bug:created"]

[queue.bugs]
source = "cat bugs.json"
filter = "not has_label('wontfix')"
max_retries = 1
[queue.bugs.dead]
on_add = "echo {{item.id}}: {{reason | quote}} >> {dead}"

[pipeline.fix]
inputs = ["bug"]
[[pipeline.fix.phase]]
name = "fix"
run = "echo fixed {{bug.id}} > fix-{{bug.id}}.txt && test {{bug.id}} != 3"
""")
    (repo / "bugs.json").write_text('[{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4, "labels": ["wontfix"]}]')
    started = orchard("runbook", "worker", "start", "ops.fixer", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    again = orchard("runbook", "worker", "start", "ops.fixer", env=env, cwd=repo)
    assert again.returncode == 2 and f"{run_id} is already running" in again.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = orchard("runbook", "worker", "status", "ops.fixer", env=env, cwd=repo).stdout
        if "dead letters: 3" in status:
            break
        time.sleep(1)
    assert "  1                done     attempts 1" in status and "  2                done     attempts 1" in status
    assert "  3                dead     attempts 2: phase fix failed" in status and "  4 " not in status  # filtered out
    assert dead.read_text().startswith("3: phase fix failed")
    (repo / "bugs.json").write_text('[{"id": 1}, {"id": 2}, {"id": 3}, {"id": 5}]')
    told = orchard("runbook", "emit", "bug:created", env=env, cwd=repo)
    assert told.returncode == 0 and told.stdout.strip() == "bug:created: 1 waiting run told"  # no 10-minute wait: the event wakes it
    deadline = time.monotonic() + 30
    while "  5                done" not in (status := orchard("runbook", "worker", "status", "ops.fixer", env=env, cwd=repo).stdout):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    stopped = orchard("runbook", "worker", "stop", "ops.fixer", env=env, cwd=repo)
    assert stopped.returncode == 0 and "the worker ends now" in stopped.stdout
    assert len([b for b in git(repo, "branch", "--list", "orchard/runbook/fix/*").split() if b != "*"]) == 5  # items 1, 2 and 5, and 3 twice
    for n in (1, 2, 5):
        (branch,) = [b for b in git(repo, "branch", "--list", "orchard/runbook/fix/*").split() if git(repo, "ls-tree", "--name-only", b, f"fix-{n}.txt")]
        assert git(repo, "show", f"{branch}:fix-{n}.txt") == f"fixed {n}"


def test_a_killed_worker(embedded, tmp_path):
    """kill -9 of the worker, twice on one embedded server: mid strategy chain, and holding a lock."""
    home, env, _, _ = embedded
    a_strategy_chain_resumes_at_its_attempt_with_its_checkpoint(home, env, tmp_path / "chain")
    its_lock_goes_to_the_next_in_line_and_the_holder_follows_on_stale(home, env, tmp_path / "lock")


def its_lock_goes_to_the_next_in_line_and_the_holder_follows_on_stale(home: Path, env: dict, tmp_path: Path) -> None:
    """The holder's heartbeat stops with its worker: when a worker is back the lock's patience has
    run out, so the run waiting in line gets it, and the holder's phase is stopped, rolled back and
    escalated (on_stale); a person's retry then runs it again under the lock."""
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    log = tmp_path / "merges.log"
    merge = (f"echo start {{name}} >> {log} && git commit -q --allow-empty -m 'merge {{name}}' && "
             f"(test -e {tmp_path}/{{name}}.slept || (touch {tmp_path}/{{name}}.slept && sleep 60)) && echo end {{name}} >> {log}")
    (repo / "runbooks" / "ops.toml").write_text(f"""
[pipeline.release]
inputs = ["name"]
[[pipeline.release.phase]]
name = "merge"
lock = "main_branch"
run = "{merge}"
on_fail = "escalate"

[lock.main_branch]
heartbeat = "1s"
on_stale = ["rollback", "escalate"]
""")
    first = orchard("runbook", "run", "--detach", "ops.release", "-i", "name=a", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    holder = first.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while "start a" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the first run never got into its merge"
        time.sleep(0.05)
    (tmp_path / "b.slept").write_text("")  # the second run's merge does not sleep
    second = orchard("runbook", "run", "--detach", "ops.release", "-i", "name=b", env=env, cwd=repo)
    assert second.returncode == 0, second.stderr
    waiter = second.stdout.strip().splitlines()[-1]
    while "waiting for ops.lock.main_branch" not in (shown := orchard("show", waiter, env=env, cwd=repo).stdout):
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)  # the holder's worker: mid-merge, the lock held
    time.sleep(3.5)  # past the lock's patience (two heartbeats and a second)
    watched = orchard("watch", waiter, "--output", "json", env=env, cwd=repo, timeout=120)  # starts a worker again
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert log.read_text().split("\n")[:3] == ["start a", "start b", "end b"]  # the waiter merged; the holder's merge never went on
    while not (pending := [json.loads(line) for line in orchard("pending", "--output", "json", env=env, cwd=repo).stdout.splitlines()]):
        assert time.monotonic() < deadline + 60, orchard("show", holder, env=env, cwd=repo).stdout
        time.sleep(0.5)
    (question,) = pending
    assert question["run_id"] == holder
    assert re.search(r"phase merge failed: ops.lock.main_branch was taken back while the phase ran \(no heartbeat for \d+\.\ds \(every 1s "
                     r"expected\)\); the phase was stopped", question["text"])
    answered = orchard("answer", holder, "retry", env=env, cwd=repo)
    assert answered.returncode == 0, answered.stderr
    done = orchard("watch", holder, "--output", "json", env=env, cwd=repo, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (pipeline,) = json.loads(done.stdout.strip().splitlines()[-1])["instances"]
    assert log.read_text().split("\n")[3:5] == ["start a", "end a"]
    assert git(repo, "log", "--format=%s", f"main..{pipeline['branch_name']}").split("\n") == ["merge a"]  # the stopped merge's commit is gone


def a_strategy_chain_resumes_at_its_attempt_with_its_checkpoint(home: Path, env: dict, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    log = tmp_path / "chain.log"
    (repo / "runbooks" / "ops.toml").write_text(f"""
[pipeline.ship]
inputs = []
[[pipeline.ship.phase]]
name = "prepare"
run = "echo prepare >> {log} && echo ready > ready.txt"
[[pipeline.ship.phase]]
name = "merge"
strategy = "merge"

[strategy.merge]
checkpoint = "echo checkpoint >> {log} && git rev-parse HEAD"
[[strategy.merge.attempt]]
name = "first"
run = "echo first >> {log} && git commit -q --allow-empty -m first && sleep 2 && false"
rollback = "echo rollback {{checkpoint}} >> {log} && git reset -q --hard {{checkpoint}}"
[[strategy.merge.attempt]]
name = "second"
run = "echo second >> {log} && echo shipped > shipped.txt"
""")
    started = orchard("runbook", "run", "--detach", "ops.ship", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while "first" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the chain never reached its first attempt"
        time.sleep(0.05)
    os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)  # mid-attempt: it sleeps
    watched = orchard("watch", run_id, "--output", "json", env=env, cwd=repo, timeout=180)  # restarts the worker
    assert watched.returncode == 0, watched.stdout + watched.stderr
    (pipeline,) = json.loads(watched.stdout.strip().splitlines()[-1])["instances"]
    lines = log.read_text().split("\n")
    assert lines.count("prepare") == 1 and lines.count("checkpoint") == 1  # nothing done ran again
    checkpoint_line = next(line for line in lines if line.startswith("rollback "))
    head_after_prepare = git(repo, "rev-parse", f"{pipeline['branch_name']}^")
    assert checkpoint_line == f"rollback {head_after_prepare}"  # the rollback still had the checkpoint
    assert [line for line in lines if line in ("first", "second")][-1] == "second"
    assert git(repo, "log", "--format=%s", pipeline["branch_name"]).count("first") == 0  # rolled back
    assert git(repo, "show", f"{pipeline['branch_name']}:shipped.txt") == "shipped"


BUGS = [
    {"id": 1, "title": "Crash on empty input", "priority": 3, "labels": ["crash"]},
    {"id": 2, "title": "Wrong total", "priority": 2, "description": "The total is off by one."},
    {"id": 3, "title": "Stale notes", "priority": 2},
    {"id": 4, "title": "Someone has it", "priority": 5, "labels": ["assigned"]},
    {"id": 5, "title": "Cosmetic", "priority": 1},
]
BUGFIX_AGENT = Path(__file__).with_name("bugfix_agent.py")


def the_bugfix_example_fixes_three_bugs_two_at_a_time_and_a_person_finishes_the_one_that_escalates(env: dict, tmp_path: Path) -> None:
    """examples/runbooks/bugfix.toml as it is, its worker fed three bugs (of five listed; the filter
    drops the others): bug 2's first fix fails the tests and its pipeline loops back; the merges take
    the lock one at a time, and the second one's fast-forward fails, is rolled back and the rebase
    lands it; main moves under bug 3 so every merge attempt fails, the run escalates, and after the
    person's `retry` the agent resolves the conflict."""
    agent = tmp_path / "agent"
    agent.mkdir(parents=True)
    repo = make_repo(tmp_path / "repo", {"README.md": "# app\n", "NOTES.md": "notes\n", "Makefile": "test:\n\t! grep -rq broken fixes\n",
                                         "bugs.json": json.dumps(BUGS)})
    shutil.copytree(ROOT / "examples" / "runbooks", repo / "runbooks")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "runbooks")
    git(repo, "checkout", "-q", "-b", "work")  # main is published: it must not be checked out here
    started = orchard("runbook", "worker", "start", "bugfix.bugfix", "--agent-command", f"{sys.executable} {BUGFIX_AGENT} {agent}", "--runner", "local",
                      env=env, cwd=repo)  # the agent logs to and waits for files of the test's outside its workspace: the local runner, which allows it
    assert started.returncode == 0, started.stderr

    def status() -> str:
        return orchard("runbook", "worker", "status", "bugfix.bugfix", env=env, cwd=repo).stdout

    deadline = time.monotonic() + 120
    while "waiting 3" not in ((agent / "log").read_text() if (agent / "log").exists() else ""):
        assert time.monotonic() < deadline, status()
        time.sleep(0.1)
    merged = ("fixes/1.txt", "fixes/2.txt")
    while set(merged) - set(git(repo, "ls-tree", "-r", "--name-only", "main").splitlines()):  # bug 2 may still be merging (it loops back once)
        assert time.monotonic() < deadline, status()
        time.sleep(0.2)
    _commit_on(repo, "main", "NOTES.md", "notes: release 1.2\n", "Release notes")  # someone moves main under bug 3's fix
    (agent / "go").write_text("")
    while not (pending := [json.loads(line) for line in orchard("pending", "--output", "json", env=env, cwd=repo).stdout.splitlines()]):
        assert time.monotonic() < deadline, status()
        time.sleep(0.5)
    assert len(pending) == 1, "\n\n".join(q["text"] for q in pending)
    (question,) = pending
    assert "pipeline fix, phase merge failed: strategy merge: every attempt failed (fast-forward, rebase, agent-resolve)" in question["text"]
    assert "agent-resolve: " in question["text"] and "cannot resolve the conflict in NOTES.md" in question["text"]  # the end of its output
    assert question["text"].count("; rolled back to ") == 3
    (agent / "allow").write_text("")
    answered = orchard("answer", question["run_id"], "retry", "--note", "resolve it, keep both lines", env=env, cwd=repo)
    assert answered.returncode == 0, answered.stderr
    while "  3                done" not in (shown := status()):
        assert time.monotonic() < deadline + 60, shown + orchard("show", question["run_id"], env=env, cwd=repo).stdout + (agent / "spans").read_text()
        time.sleep(0.5)
    assert all(f"  {n}                done     attempts 1" in shown for n in (1, 2, 3)) and "  4 " not in shown and "  5 " not in shown
    orchard("runbook", "worker", "stop", "bugfix.bugfix", env=env, cwd=repo)

    assert [git(repo, "show", f"main:fixes/{n}.txt") for n in (1, 2, 3)] == ["fixed 1", "fixed 2", "fixed 3"]
    assert git(repo, "show", "main:NOTES.md") == "notes: release 1.2\nnotes: bug 3 fixed"  # both sides kept
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "work" and git(repo, "status", "--porcelain") == ""
    phases = {}  # bug id: the pipeline's phase records
    for line in orchard("list", "--pipeline", "bugfix.fix", "--children", "--output", "json", env=env, cwd=repo).stdout.splitlines():
        run = json.loads(orchard("show", json.loads(line)["run_id"], "--output", "json", env=env, cwd=repo).stdout)
        phases[int(run["memo"]["prompt"].rsplit(" ", 1)[1])] = run["instances"][0]["metadata"]["phases"]  # "bugfix.pipeline.fix 3": the item's id
    assert sorted(phases) == [1, 2, 3]
    runs = {bug: (_at(records[0]["started"]), max(_at(p["started"]) + p["duration_seconds"] for p in records)) for bug, records in phases.items()}
    assert runs[1][0] < runs[2][1] and runs[2][0] < runs[1][1]  # bugs 1 and 2 at once,
    assert runs[3][0] >= min(runs[1][1], runs[2][1])  # and bug 3 once one of them was done
    assert [(p["phase"], p["ok"]) for p in phases[2]] == [("reproduce", True), ("fix", True), ("verify", False), ("fix", True), ("verify", True),
                                                          ("merge", True)]
    merges = [p for records in phases.values() for p in records if p["phase"] == "merge"]
    held = sorted((_at(p["started"]) + p["waited_seconds"], _at(p["started"]) + p["duration_seconds"]) for p in merges)
    assert all(left <= entered for (_, left), (entered, _) in pairwise(held)), held  # the lock: one merge at a time
    tried = [p.get("attempts", []) for p in merges if p["ok"]]  # a record without failed attempts says none
    assert any(len(a) == 1 and a[0].startswith("fast-forward: ") and "; rolled back to " in a[0] for a in tried), merges  # a fast-forward failed,
    # was rolled back, and the rebase landed it


def _commit_on(repo: Path, branch: str, path: str, text: str, message: str) -> None:
    """A commit on a branch that is not checked out, as someone else's push would make it."""
    index = repo / ".git" / "orchard-test-index"
    plumbing = {**os.environ, "GIT_INDEX_FILE": str(index)}
    old = git(repo, "rev-parse", branch)
    subprocess.run(["git", "read-tree", old], cwd=repo, env=plumbing, check=True)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "update-index", "--cacheinfo", f"100644,{blob},{path}"], cwd=repo, env=plumbing, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=repo, env=plumbing, capture_output=True, text=True, check=True).stdout.strip()
    index.unlink()
    commit = git(repo, "commit-tree", tree, "-p", old, "-m", message)
    git(repo, "update-ref", f"refs/heads/{branch}", commit, old)


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
