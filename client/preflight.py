"""What the client asks this host before a run starts, in one place: the user's repository (its
root, checked-out branch, a branch's commit, its remotes, a remote's branches), the agent plugins
there are, the runner the agents would get (the Docker engine and the agent image), whether
workspaces can be overlays, and the disk under $ORCHARD_HOME.

Every such question goes from here to activities/ (git, runners, overlays); the answers are plain
values, and the run's steps (client/run_steps.py) and the repository's rules (client/repository.py)
decide what they mean. A test of a step fakes the host by replacing these functions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from activities.agents import PLUGINS
from activities.git.command import GitError, git, git_now
from activities.git.overlay import checkouts_asked, overlay_unavailable
from activities.paths import orchard_home
from activities.runners.choice import RUNNER_MODULES, choose_runner
from activities.runners.docker import DEFAULT_IMAGE
from client.errors import disk_full_under
from workflows.sdk.models import TaskDefaults


def find_root(path: str | Path) -> Path | None:
    """The root of the repository `path` is in (its work tree; a bare one's git folder), or None
    when it is in none."""
    if not Path(path).is_dir():
        return None
    top = git_now("rev-parse", "--show-toplevel", cwd=path)
    if top.returncode == 0:
        return Path(top.stdout.strip()).resolve()
    bare = git_now("rev-parse", "--is-bare-repository", "--absolute-git-dir", cwd=path)
    if bare.returncode == 0 and bare.stdout.startswith("true"):
        return Path(bare.stdout.split("\n")[1].strip()).resolve()
    return None


def current_branch(root: Path) -> str | None:
    """The branch checked out in the repository at `root`; None when HEAD is detached."""
    head = git_now("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root)
    return head.stdout.strip() if head.returncode == 0 else None


def checked_out(root: Path) -> tuple[str, str] | None:
    """The branch checked out at `root` and its commit, in one process; None when HEAD is detached
    or its branch has no commit yet."""
    head = git_now("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", cwd=root)
    commit, _, ref = head.stdout.strip().partition("\n")
    if head.returncode == 0 and ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/"), commit
    return None


def branch_commit(root: Path, branch: str) -> str | None:
    """The commit of `branch` at `root`; None when there is no such branch (or it has no commit)."""
    return git_now("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=root).stdout.strip() or None


def remotes_of(root: Path) -> dict[str, str]:
    """The repository's remotes: name -> URL, as its config says (by name, as `git remote` lists them)."""
    names = git_now("remote", cwd=root).stdout.split()
    urls = dict(line.split(" ", 1) for line in git_now("config", "--get-regexp", r"^remote\..*\.url$", cwd=root).stdout.splitlines() if " " in line)
    return {name: urls[f"remote.{name}.url"] for name in names if f"remote.{name}.url" in urls}


class RemoteUnreachable(Exception):
    """A remote that did not answer; its message is git's last line about it."""


@dataclass(frozen=True)
class RemoteHeads:
    """A remote's branches (name -> commit) and its default branch (None when it names none)."""

    branches: dict[str, str]
    default: str | None


async def remote_heads(url: str, cwd: str) -> RemoteHeads:
    """What the remote at `url` holds, asked from `cwd` (RemoteUnreachable when it does not answer)."""
    try:
        listed = await git("ls-remote", "--symref", "--", url, "HEAD", "refs/heads/*", cwd=cwd)
    except GitError as e:
        raise RemoteUnreachable(e.stderr.strip().splitlines()[-1] if e.stderr.strip() else str(e)) from None
    branches = {ref.removeprefix("refs/heads/"): sha for sha, _, ref in (line.partition("\t") for line in listed.splitlines()) if ref.startswith("refs/heads/")}
    default = next((line.split()[1] for line in listed.splitlines() if line.startswith("ref: ") and line.endswith("\tHEAD")), "")
    return RemoteHeads(branches, default.removeprefix("refs/heads/") or None)


def agent_plugins() -> list[str]:
    """The agent plugins a worker of this Orchard has, by name."""
    return sorted(PLUGINS)


@dataclass(frozen=True)
class RunnerCheck:
    """The runner agents with these settings get on this host, and why Docker cannot be used when
    that matters (None: nothing to say)."""

    runner: str
    problem: str | None = None

    @property
    def imports(self) -> list[str]:
        """What the runner's first instance imports: a worker started for the run imports it early."""
        return list(RUNNER_MODULES.get(self.runner, []))


async def runner(defaults: TaskDefaults) -> RunnerCheck:
    """The runner for these settings here: the Docker engine and the agent image asked when they
    matter. Docker's: the engine woken for the run's first container while the run starts (warm_up)."""
    chosen, problem = await choose_runner(defaults)
    if chosen == "docker" and problem is None:
        from activities.runners.docker.status import warm_up  # the standard library only: no Docker SDK

        threading.Thread(target=warm_up, args=(defaults.docker_image or DEFAULT_IMAGE,), daemon=True).start()
    return RunnerCheck(chosen, problem)


def overlay_problem() -> str | None:
    """Why workspaces here cannot be copy-on-write overlays; None when they can, or when the host's
    owner asked for full checkouts (ORCHARD_WORKSPACES=checkout)."""
    why = overlay_unavailable()
    return None if why is None or checkouts_asked() else why


def disk_problem() -> str | None:
    """One line when the disk holding $ORCHARD_HOME is full, else None."""
    return disk_full_under(orchard_home())
