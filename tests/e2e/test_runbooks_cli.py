"""`orchard runbook run` as a user runs it: the embedded server, the demo agent, examples/runbooks."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import DEMO_AGENT, ROOT, git, make_repo, orchard

pytestmark = pytest.mark.slow


def test_the_build_example_plans_builds_verifies_and_fast_forwards_main(embedded, tmp_path):
    _, env, _, _ = embedded
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
