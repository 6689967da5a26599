"""`verify_commit` against a real repository and real processes: the command runs on a checkout
of the commit it is given (not the user's working tree), sandboxed unless the run's agents run
locally, and its exit code decides."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.paths import workspaces_dir
from activities.verification.commit import verify_commit
from tests.conftest import git, require_sandbox
from workflows.sdk.models import VerifyInput


def commit_on_branch(repo: Path, branch: str, text: str) -> str:
    git(repo, "checkout", "-q", "-b", branch, "main")
    (repo / "demo").mkdir(exist_ok=True)
    (repo / "demo" / f"{branch}.md").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", branch)
    return git(repo, "rev-parse", "HEAD")


async def test_the_command_runs_on_a_checkout_of_each_commit_and_its_exit_code_decides(repo, orchard_home):
    careful = commit_on_branch(repo, "careful", "Prioritize robustness.\n")
    simple = commit_on_branch(repo, "simple", "Favor the simplest change.\n")
    git(repo, "checkout", "-q", "main")
    (repo / "wip.txt").write_text("uncommitted\n")
    status = git(repo, "status", "--porcelain=v1")
    command = "! grep -rq robustness demo"

    env = ActivityEnvironment()
    rejected = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_v1", commit=careful, command=command, label="verify/candidate/2#1"))
    passed = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_v1", commit=simple, command=command, label="verify/candidate/1#2"))

    assert (rejected.passed, rejected.exit_code) == (False, 1)
    assert (passed.passed, passed.exit_code) == (True, 0)
    assert Path(rejected.log_path).read_text().startswith(f"$ {command}\n") and rejected.log_path != passed.log_path
    assert not workspaces_dir("run_v1").exists() or not any(workspaces_dir("run_v1").iterdir())  # checkouts removed
    assert git(repo, "status", "--porcelain=v1") == status and git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


async def test_a_verification_runs_the_agents_code_sandboxed_unless_the_run_trusts_its_agents_to_run_locally(repo, orchard_home, tmp_path):
    """The command runs the commit's code, which an agent wrote: in the sandbox it can neither write
    the user's checkout nor a file beside it, nor read the home it was started from, and it gets a
    /tmp of its own; with `--runner local` (the user trusts the agents) the same code does all of it
    (the positive control), and its log says it was not sandboxed."""
    require_sandbox()
    outside = tmp_path / "outside.txt"
    home_secret = Path.home() / f".orchard-probe-{uuid.uuid4().hex[:8]}"
    home_secret.write_text("the user's\n")
    try:
        probe = (f"echo pwned > {repo}/README.md 2>/dev/null && echo wrote-checkout; echo pwned > {outside} 2>/dev/null && echo wrote-outside; "
                 f"cat {home_secret} 2>/dev/null && echo read-home; true")
        suspect = commit_on_branch(repo, "suspect", f"#!/bin/sh\n{probe}\n")
        git(repo, "checkout", "-q", "main")
        readme = (repo / "README.md").read_bytes()
        env = ActivityEnvironment()
        outcomes = {}
        for runner in ("auto", "sandbox", "docker", "local"):
            verified = await env.run(verify_commit, VerifyInput(repo=str(repo), run_id="run_v2", commit=suspect, command="sh demo/suspect.md",
                                                              label=f"verify/{runner}", runner=runner))
            outcomes[runner] = (verified.passed, Path(verified.log_path).read_text().splitlines()[1:])
            if runner != "local":
                assert (repo / "README.md").read_bytes() == readme and not outside.exists(), runner
        for runner in ("auto", "sandbox", "docker"):
            said = [line for line in outcomes[runner][1] if not line.startswith("[stderr]")]  # what the shell says of each refusal
            assert outcomes[runner][0] and said == [], (runner, outcomes[runner])
        assert outcomes["local"] == (True, ["(not sandboxed: the run's agents run locally (--runner local))", "wrote-checkout", "wrote-outside",
                                            "the user's", "read-home"])
    finally:
        home_secret.unlink()
