"""The user's repository as the CLI finds it: the folder given, its root, the base branch; or the
git remote a run works on (`--repo URL`, `--remote NAME`); and, once a run on a remote has ended,
its branches fetched here. What it asks git before a run starts, it asks through client/preflight.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from activities.git.command import GitError
from activities.git.command import git as run_git
from client import preflight
from client.errors import UsageError
from workflows.sdk.models import is_remote_repo


def open_repo(path: str) -> Path:
    """The root of the repository `path` is in; a clear error when there is none."""
    if not Path(path).exists():
        raise UsageError(f"{path} does not exist; pass --repo with a git repository")
    root = preflight.find_root(path)
    if root is None:
        raise UsageError(f"{Path(path).resolve()} is not a git repository; run inside one or pass --repo PATH (create one with `git init`)")
    return root


def base_branch(root: Path, requested: str | None) -> tuple[str, str]:
    """The branch runs start from (the one asked for, else the checked-out one; it must exist), and
    its commit."""
    if requested is None:
        head = preflight.checked_out(root)
        if head is not None:
            return head
        requested = preflight.current_branch(root)  # detached, or a branch with no commit yet: said below
        if requested is None:
            raise UsageError("HEAD is detached; pass --base-branch NAME")
    commit = preflight.branch_commit(root, requested)
    if not commit:
        raise UsageError(f"base branch {requested!r} does not exist in {root}; pass --base-branch with an existing branch (a branch with at least one commit)")
    return requested, commit


@dataclass(frozen=True)
class RunRepository:
    """The repository a run works on, as the client found it."""

    repo: str
    """What the run names: the local repository's root, or the remote's URL (workers fetch it)."""
    local: Path | None
    """The root of the user's repository here, if there is one (with --remote: it gets the run's branches at the end)."""
    remote: str | None = None
    """The remote's name in `local` (--remote NAME)."""

    @property
    def root(self) -> str | None:
        return str(self.local) if self.local is not None else None


def run_repository(path: str, remote: str | None) -> RunRepository:
    """`--repo PATH` (default: here), `--repo URL` (a git remote, no local repository needed), or
    `--remote NAME`: the remote of the repository here that the run works on."""
    if is_remote_repo(path):
        if remote:
            raise UsageError(f"--remote {remote} names a remote of a local repository; with --repo {path} drop it (or pass --repo PATH)")
        return RunRepository(path, None)
    local = open_repo(path)
    if remote is None:
        return RunRepository(str(local), local)
    remotes = preflight.remotes_of(local)
    if remote not in remotes:
        raise UsageError(f"{local} has no remote {remote!r}" + (f"; its remotes: {', '.join(remotes)}" if remotes else "; add one with `git remote add`"))
    url = remotes[remote]
    if not is_remote_repo(url):  # a path: workers on other hosts reach it only as a URL of this host's
        url = (local / url).resolve().as_uri()
    return RunRepository(url, local, remote)


def clone_here(url: str, path: str = ".") -> RunRepository | None:
    """The repository at `path`, when one of its remotes is `url` (`orchard watch` of a run on a
    remote, from a clone of it: the branches come here too); None otherwise."""
    local = preflight.find_root(path)
    if local is None:
        return None
    for remote in preflight.remotes_of(local):
        found = run_repository(str(local), remote)
        if found.repo == url:
            return found
    return None


async def remote_base_branch(repo: RunRepository, requested: str | None) -> tuple[str, str]:
    """The branch a run on a remote starts from (the one asked for, else the branch checked out
    here (--remote), else the remote's default; it must exist on the remote), and its commit there."""
    try:
        heads = await preflight.remote_heads(repo.repo, repo.root or ".")
    except preflight.RemoteUnreachable as e:
        raise UsageError(f"cannot reach the remote {repo.repo}: {e}; check the URL and that its server is up") from None
    if requested is None and repo.local is not None:
        requested = preflight.current_branch(repo.local)
    if requested is None:
        requested = heads.default
    if requested is None or requested not in heads.branches:
        what = f"base branch {requested!r} is not" if requested else "no default branch is"
        raise UsageError(f"{what} on the remote {repo.repo}; pass --base-branch with one of its branches "
                         f"({', '.join(sorted(heads.branches)) or 'it has none: push one first'})")
    return requested, heads.branches[requested]


async def report_fetched(repo: RunRepository, run_id: str) -> None:
    """Fetch the run's branches from its remote into the local repository, and say which."""
    fetched = await fetch_run_branches(repo, run_id)
    print(f"orchard: fetched {len(fetched)} branch{'es' * (len(fetched) != 1)} of run {run_id} from {repo.remote}" + "".join(f"\n  {b}" for b in fetched),
          file=sys.stderr)


async def fetch_run_branches(repo: RunRepository, run_id: str) -> list[str]:
    """Fetch the run's branches from its remote into the local repository (new branches only:
    a local branch of that name is left as it is); returns those fetched."""
    if repo.local is None or repo.root is None:
        return []
    listed = await run_git("ls-remote", "--", repo.repo, "refs/heads/orchard/*", cwd=repo.root)
    theirs = [ref for _, _, ref in (line.partition("\t") for line in listed.splitlines()) if run_id in ref]
    fetched = []
    for ref in theirs:
        try:
            await run_git("fetch", "--quiet", "--no-tags", "--", repo.repo, f"{ref}:{ref}", cwd=repo.root)
            fetched.append(ref.removeprefix("refs/heads/"))
        except GitError:
            continue  # exists here at another commit: the user's branch stays
    return fetched
