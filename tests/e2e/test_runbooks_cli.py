"""`orchard runbook run` as a user runs it: the embedded server, the demo agent, examples/runbooks."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
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
    done = orchard("runbook", "run", "--base-branch", "main", "--agent-command", DEMO_AGENT, "--output", "streaming",
                   "build", "auth", "Add login", "--reviewer", "alice", env=env, cwd=repo, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split("│") for line in done.stdout.splitlines() if line.count("│") == 6]  # the phases table that ends the run
    assert [(r[1].strip(), r[4].strip()) for r in rows] == [(p, "done") for p in ("init", "plan", "execute", "verify", "merge", "done")]
    run_id = done.stdout.split("runbook run ", 1)[1].split()[0]
    branch = f"orchard/runbook/build/{run_id}"
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
    bugfix_three_bugs_two_at_a_time_a_loop_back_a_rolled_back_merge_and_an_escalation_answered(env, tmp_path / "b")


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
    (repo / "runbooks" / "ops.toml").write_text(f"""
[pipeline.release]
inputs = ["name"]
[[pipeline.release.phase]]
name = "merge"
lock = "main_branch"
run = "echo start {{name}} >> {log} && git commit -q --allow-empty -m 'merge {{name}}' && (test -e {tmp_path}/{{name}}.slept || (touch {tmp_path}/{{name}}.slept && sleep 60)) && echo end {{name}} >> {log}"
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
    assert re.search(r"phase merge failed: ops.lock.main_branch was taken back while the phase ran \(no heartbeat for \d+\.\ds \(every 1s expected\)\); the phase was stopped", question["text"])
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


def bugfix_three_bugs_two_at_a_time_a_loop_back_a_rolled_back_merge_and_an_escalation_answered(env: dict, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "runbooks").mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    (repo / "runbooks" / "bugfix.toml").write_text(f"""
[worker.bugfix]
queue = "bugs"
handler = "pipeline.fix"
concurrency = 2
idle_action = "wait:10m"

[queue.bugs]
source = "cat bugs.json"

[pipeline.fix]
inputs = ["bug"]

[[pipeline.fix.phase]]
name = "fix"
run = "echo fix start $(date +%s.%N) >> {logs}/spans && echo attempt >> {logs}/fix-{{bug.id}} && echo 'fixed {{bug.id}}' > fix-{{bug.id}}.txt && sleep 0.5 && echo fix end $(date +%s.%N) >> {logs}/spans"
next = "verify"

[[pipeline.fix.phase]]
name = "verify"
run = "test {{bug.id}} != 2 || test $(wc -l < {logs}/fix-2) -ge 2"
next = "merge"
on_fail = "fix"

[[pipeline.fix.phase]]
name = "merge"
strategy = "merge"
lock = "main_branch"
on_fail = "escalate"

[strategy.merge]
checkpoint = "git rev-parse HEAD"
on_exhaust = "escalate"

[[strategy.merge.attempt]]
name = "first"
run = "echo merge start $(date +%s.%N) >> {logs}/spans && git commit -q --allow-empty -m 'try {{bug.id}}' && sleep 0.3 && echo merge end $(date +%s.%N) >> {logs}/spans && test {{bug.id}} = 2"
rollback = "echo rolled back {{bug.id}} to {{checkpoint}} >> {logs}/rollbacks && git reset -q --hard {{checkpoint}}"

[[strategy.merge.attempt]]
name = "second"
run = "test {{bug.id}} != 3 || test -f {logs}/allow-3"

[lock.main_branch]
heartbeat = "5s"
""")
    (repo / "bugs.json").write_text('[{"id": 1}, {"id": 2}, {"id": 3}]')
    started = orchard("runbook", "worker", "start", "bugfix.bugfix", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 90
    while True:
        pending = [json.loads(line) for line in orchard("pending", "--output", "json", env=env, cwd=repo).stdout.splitlines()]
        if pending:
            break
        assert time.monotonic() < deadline, orchard("runbook", "worker", "status", "bugfix.bugfix", env=env, cwd=repo).stdout
        time.sleep(0.5)
    (question,) = pending
    assert "phase merge failed: strategy merge: every attempt failed (first, second)" in question["text"]  # bug 3 exhausts every attempt
    (logs / "allow-3").write_text("")
    answered = orchard("answer", question["run_id"], "retry", env=env, cwd=repo)
    assert answered.returncode == 0, answered.stderr
    while "  3                done" not in (status := orchard("runbook", "worker", "status", "bugfix.bugfix", env=env, cwd=repo).stdout):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert all(f"  {n}                done     attempts 1" in status for n in (1, 2, 3))
    assert (logs / "fix-2").read_text().count("attempt") == 2 and (logs / "fix-1").read_text().count("attempt") == 1  # bug 2 looped back once
    rollbacks = (logs / "rollbacks").read_text().splitlines()
    assert sum(line.startswith("rolled back 1 to ") for line in rollbacks) == 1  # bug 1's first attempt, rolled back before the second
    assert sum(line.startswith("rolled back 3 to ") for line in rollbacks) == 2  # bug 3: before its escalation, and again after the retry
    spans = sorted((float(t), kind, what) for kind, what, t in (line.split() for line in (logs / "spans").read_text().splitlines()))
    most = {"fix": 0, "merge": 0}
    now = {"fix": 0, "merge": 0}
    for _, kind, what in spans:
        now[kind] += 1 if what == "start" else -1
        most[kind] = max(most[kind], now[kind])
    assert most == {"fix": 2, "merge": 1}  # two bugs at a time; the lock serialises the merges
    orchard("runbook", "worker", "stop", "bugfix.bugfix", env=env, cwd=repo)
