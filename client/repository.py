"""The user's repository as the CLI finds it: the folder given, its root, the base branch."""

from __future__ import annotations

from pathlib import Path

import git

from client.errors import UsageError


def open_repo(path: str) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except git.NoSuchPathError:
        raise UsageError(f"{path} does not exist; pass --repo with a git repository") from None
    except git.InvalidGitRepositoryError:
        raise UsageError(f"{Path(path).resolve()} is not a git repository; run inside one or pass --repo PATH (create one with `git init`)") from None


def repo_root(repo: git.Repo) -> str:
    return str(Path(repo.working_tree_dir or repo.git_dir).resolve())


def base_branch(repo: git.Repo, requested: str | None) -> str:
    """The branch runs start from: the one asked for, else the checked-out one; it must exist."""
    if requested is None:
        if repo.head.is_detached:
            raise UsageError("HEAD is detached; pass --base-branch NAME")
        requested = repo.active_branch.name
    try:
        repo.commit(f"refs/heads/{requested}")
    except (git.BadName, ValueError):
        raise UsageError(f"base branch {requested!r} does not exist in {repo.working_tree_dir or repo.git_dir}; pass --base-branch with an existing branch (a branch with at least one commit)") from None
    return requested
