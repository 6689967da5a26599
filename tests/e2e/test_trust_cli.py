"""Issue items 1-3 as a user reproduces them: `orchard run … --strategy loop` with an agent script
that wrecks its workspace's `.git`, in a fresh repository (never packed, `main` checked out, a file
staged). The run fails with one line saying what the agent left out of place, and `git fsck
--full`, `main`, the index and the object count of the user's repository are what they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, make_repo, orchard

pytestmark = pytest.mark.slow

RUN = ["run", "x", "--strategy", "loop", "-S", "mode=fixed", "-S", "max_iterations=1", "-S", "verify=test -e .",
       "--plugin", "command", "--agent-command", "./agent.sh", "--output", "quiet"]


def attacks(repo: Path) -> dict[str, str]:
    store = repo / ".git" / "objects"
    return {
        "objects linked to the user's store": f"echo work > f.txt && rm -rf .git/objects && ln -s {store} .git/objects && git add f.txt && git commit -qm work",
        "a forged object": "y=$(printf 'payload\\n' | git hash-object -w --stdin) && x=$(printf 'later\\n' | git hash-object --stdin) && "
                           "mkdir -p .git/objects/${x:0:2} && mv .git/objects/${y:0:2}/${y:2} .git/objects/${x:0:2}/${x:2} && "
                           "echo work > f.txt && git add f.txt && git commit -qm work",
        ".git linked to the user's": f"echo left > left.txt && rm -rf .git && ln -s {repo / '.git'} .git",
    }


def state(repo: Path) -> dict[str, str]:
    return {"fsck": git(repo, "fsck", "--full", "--no-dangling", "--no-progress"), "main": git(repo, "rev-parse", "main"),
            "index": git(repo, "ls-files", "--stage"), "head": git(repo, "symbolic-ref", "HEAD"),
            "objects": git(repo, "count-objects", "-v").split("\n")[0]}


def test_an_agent_that_wrecks_its_git_fails_the_loop_in_one_line_and_the_repository_is_as_it_was(embedded, tmp_path):
    _home, env, _port, _ui = embedded
    for n, (attack, script) in enumerate(attacks(tmp_path / "repo-0").items()):
        repo = make_repo(tmp_path / f"repo-{n}")
        script = script.replace(str(tmp_path / "repo-0"), str(repo))
        (repo / "agent.sh").write_text(f"#!/bin/bash\nset -e\n{script}\n")
        (repo / "agent.sh").chmod(0o755)
        git(repo, "add", "agent.sh")
        git(repo, "commit", "-qm", "the agent's script")
        (repo / "staged.txt").write_text("the user's staged work\n")
        git(repo, "add", "staged.txt")
        before = state(repo)

        done = orchard(*RUN, env=env, cwd=repo)

        assert done.returncode != 0, (attack, done.stdout, done.stderr)
        said = done.stdout + done.stderr
        assert "nothing of its work was taken" in said, (attack, said)
        after = state(repo)
        if attack == "objects linked to the user's store":  # the agent's own commit wrote its objects through the link
            after["objects"] = before["objects"] = ""
        assert after == before, attack
        assert not (repo / "left.txt").exists()
