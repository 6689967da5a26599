"""The user's repository as the CLI finds it (client/repository.py, which asks git through
client/preflight.py), with the git CLI: its root from anywhere inside, its base branch and commit,
its remotes, and one clear line when it is not what a run needs."""

from __future__ import annotations

import pytest

from client.errors import UsageError
from client.preflight import current_branch, find_root, remotes_of
from client.repository import base_branch, clone_here, open_repo, run_repository
from tests.conftest import git, make_repo


def test_the_root_is_found_from_a_subfolder_and_the_base_is_the_checked_out_branch(tmp_path):
    repo = make_repo(tmp_path / "repo", {"src/app.py": "x = 1\n"})
    assert open_repo(str(repo / "src")) == repo.resolve()
    assert base_branch(repo, None) == ("main", git(repo, "rev-parse", "main"))
    git(repo, "branch", "feature")
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    assert base_branch(repo, "feature") == ("feature", git(repo, "rev-parse", "main~1"))


def test_a_bare_repository_is_its_own_root(tmp_path):
    make_repo(tmp_path / "repo")
    git(tmp_path, "clone", "-q", "--bare", "repo", "bare.git")
    assert find_root(tmp_path / "bare.git") == (tmp_path / "bare.git").resolve()


def test_what_a_run_cannot_start_from_is_one_clear_error(tmp_path):
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(UsageError, match="does not exist; pass --repo"):
        open_repo(str(tmp_path / "missing"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="is not a git repository; run inside one"):
        open_repo(str(tmp_path / "plain"))
    with pytest.raises(UsageError, match="base branch 'nope' does not exist in"):
        base_branch(repo, "nope")
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    git(unborn, "init", "-q", "-b", "main")
    with pytest.raises(UsageError, match="base branch 'main' does not exist in .*a branch with at least one commit"):
        base_branch(unborn, None)
    git(repo, "checkout", "-q", "--detach")
    assert current_branch(repo) is None
    with pytest.raises(UsageError, match="HEAD is detached; pass --base-branch NAME"):
        base_branch(repo, None)


def test_a_remote_is_named_by_its_url_and_a_path_remote_becomes_a_file_url(tmp_path):
    make_repo(tmp_path / "upstream")
    git(tmp_path, "clone", "-q", "upstream", "clone")
    clone = tmp_path / "clone"
    git(clone, "remote", "add", "mirror", "https://example.invalid/mirror.git")
    assert remotes_of(clone) == {"mirror": "https://example.invalid/mirror.git", "origin": str(tmp_path / "upstream")}
    on_origin = run_repository(str(clone), "origin")
    assert on_origin.repo == (tmp_path / "upstream").resolve().as_uri() and on_origin.local == clone.resolve() and on_origin.remote == "origin"
    assert run_repository(str(clone), "mirror").repo == "https://example.invalid/mirror.git"
    with pytest.raises(UsageError, match="has no remote 'upstream'; its remotes: mirror, origin"):
        run_repository(str(clone), "upstream")
    assert clone_here("https://example.invalid/mirror.git", str(clone)).remote == "mirror"
    assert clone_here("https://example.invalid/other.git", str(clone)) is None
    assert clone_here("https://example.invalid/mirror.git", str(tmp_path)) is None  # not in a repository
