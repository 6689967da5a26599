"""An agent that wrecks its workspace's `.git` cannot reach the user's repository through Orchard's
own git: for a loop iteration, a runbook step and an instance, with the local and docker runners.

Each agent below attacks, then exits 0: its objects folder (or one fan-out folder of it) replaced
by a link to the user's store or to a host folder, a loose object named for content it does not
hold, `.git` itself a link to the user's `.git` with work left uncommitted. Each time the work is
refused with one line naming what is out of place, and the user's repository (fsck, `main`, the
index with a staged file, every object) and the host folder are as they were.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.instance import run_instance
from activities.loops.iteration import run_iteration
from activities.runbooks.steps import run_runbook_step
from tests.conftest import git, orchard_branches, require_docker
from workflows.loops.models import IterationInput
from workflows.runbooks.steps import StepInput
from workflows.sdk.models import InstanceInput, TaskSpec, instance_branch

COMMIT = "echo work > f.txt && git add f.txt && git commit -qm work"
FUTURE = "the file the user writes after the run\n"


def attacks(repo: Path, victim: Path) -> dict[str, tuple[str, str]]:
    """Each attack's agent command (bash) and the words of the one line that refuses it."""
    store = repo / ".git" / "objects"
    return {
        # The reproduction: the link first, then the agent's commit (its objects are written through it).
        "objects linked, then a commit": (f"echo work > f.txt && rm -rf .git/objects && ln -s {store} .git/objects && git add f.txt && git commit -qm work",
                                          "objects is a link"),
        "a commit, then objects linked": (f"{COMMIT} && mv .git/objects .git/objects.kept && ln -s {store} .git/objects", "objects is a link"),
        "a fan-out folder linked": (f"{COMMIT} && mkdir -p .git/objects/00 && rm -rf .git/objects/00 && ln -s {victim} .git/objects/00",
                                    "objects/00 is a link"),
        "a forged object": ("y=$(printf 'payload\\n' | git hash-object -w --stdin) && "
                            f"x=$(printf '{FUTURE.strip()}\\n' | git hash-object --stdin) && "
                            "mkdir -p .git/objects/${x:0:2} && mv .git/objects/${y:0:2}/${y:2} .git/objects/${x:0:2}/${x:2} && " + COMMIT,
                            "a forged object"),
        ".git linked to the user's": (f"echo left > left.txt && rm -rf .git && ln -s {repo / '.git'} .git", ".git is a link"),
    }


def loose_objects(repo: Path) -> set[str]:
    return {p.parent.name + p.name for p in (repo / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*")}


def user_state(repo: Path) -> dict[str, object]:
    fsck = git(repo, "fsck", "--full", "--no-dangling", "--no-progress")
    return {"fsck": fsck, "main": git(repo, "rev-parse", "main"), "head": git(repo, "symbolic-ref", "HEAD"), "index": (repo / ".git" / "index").read_bytes(),
            "staged": git(repo, "diff", "--cached", "--name-only"), "branches": orchard_branches(repo)}


@pytest.fixture
def user_repo(repo: Path) -> Path:
    """The user's repository, never packed, `main` checked out, a file staged."""
    (repo / "staged.txt").write_text("staged by the user\n")
    git(repo, "add", "staged.txt")
    assert not list((repo / ".git" / "objects" / "pack").glob("*.pack"))
    return repo


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A host folder outside everything Orchard knows, holding a file with an object's name."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / ("e" * 38)).write_text("the host's own file\n")
    return folder


async def attempt(kind: str, repo: Path, agent: str, runner: str) -> str:
    """The agent's work taken as `kind` does it; the one line that refused it."""
    run_id = f"run_tamper_{uuid.uuid4().hex[:6]}"
    base = git(repo, "rev-parse", "main")
    task = TaskSpec(prompt="attack", base_branch="main", agent_command=agent, runner=runner, network_egress="offline")
    if kind == "instance":
        inp = InstanceInput(repo=str(repo), run_id=run_id, strategy="simple", key="k/1", branch=instance_branch("simple", run_id, "k/1"), task=task)
        result = await ActivityEnvironment().run(run_instance, inp)
        assert not result.success and result.branch_name is None
        return result.error or ""
    with pytest.raises(ApplicationError) as refused:
        if kind == "loop":
            await ActivityEnvironment().run(run_iteration, IterationInput(
                repo=str(repo), run_id=run_id, loop_key="loop", iteration=1, attempt_key="1.0", branch=f"orchard/loop/{run_id}/kloop", start_commit=base,
                task=task, levels={"L0": ["test -e ."]}))
        else:
            await ActivityEnvironment().run(run_runbook_step, StepInput(
                repo=str(repo), run_id=run_id, key="pipeline", step=1, attempt_key="1.0", kind="run", label="phase attack", command=agent,
                branch=f"orchard/runbook/{run_id}/kpipeline", start_commit=base))
    assert refused.value.type == "WorkspaceTampered" and refused.value.non_retryable
    return refused.value.message


CASES = [("loop", "local"), ("step", "local"), ("instance", "local"), ("loop", "docker"), ("instance", "docker")]
ATTACKS = ["objects linked, then a commit", "a commit, then objects linked", "a fan-out folder linked", "a forged object", ".git linked to the user's"]


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize(("kind", "runner"), CASES)
async def test_an_agent_that_wrecks_its_git_is_refused_and_the_users_repository_is_untouched(kind, runner, attack, user_repo, victim, orchard_home):
    if runner == "docker":
        require_docker()
    agent, refusal = attacks(user_repo, victim)[attack]
    before, objects = user_state(user_repo), loose_objects(user_repo)

    said = await attempt(kind, user_repo, agent, runner)

    writes_through_the_link = attack == "objects linked, then a commit"
    if not (runner == "docker" and kind == "instance" and writes_through_the_link):  # there the agent's own commit fails: nothing to refuse
        assert refusal in said and "nothing of its work was taken" in said and "\n" not in said, said
    assert user_state(user_repo) == before
    if writes_through_the_link and runner == "local":  # the agent's own git wrote through the link (the local runner stops nothing)
        assert loose_objects(user_repo) >= objects
    else:
        assert loose_objects(user_repo) == objects
    assert [p.name for p in victim.iterdir()] == ["e" * 38] and (victim / ("e" * 38)).read_text() == "the host's own file\n"
    if attack == "a forged object":  # the user's later `git add` of the content the forged object's name says commits that content
        (user_repo / "later.txt").write_text(FUTURE)
        git(user_repo, "add", "later.txt")
        git(user_repo, "commit", "-qm", "later")
        assert git(user_repo, "show", "HEAD:later.txt") == FUTURE.strip()
