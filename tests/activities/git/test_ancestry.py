"""How many commits an agent's HEAD adds to its base, read from the loose commits Orchard took, or left to git."""

from __future__ import annotations

from pathlib import Path

from activities.git.ancestry import commits_above
from tests.conftest import git


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-qm", name)
    return git(repo, "rev-parse", "HEAD")


def test_commits_on_top_of_the_base_are_counted_as_git_counts_them(repo):
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, "s1")
    side = commit(repo, "s2")
    git(repo, "checkout", "-q", "main")
    commit(repo, "m1")
    git(repo, "merge", "-q", "--no-edit", "side")
    head = commit(repo, "m2")
    objects = repo / ".git"
    assert commits_above(objects, base, head) == int(git(repo, "rev-list", "--count", f"{base}..{head}")) == 5
    assert commits_above(objects, base, base) == 0
    assert commits_above(objects, base, side) == 2


def test_what_cannot_be_told_from_the_new_commits_alone_is_left_to_git(repo):
    base = git(repo, "rev-parse", "HEAD")
    later = commit(repo, "later")
    assert commits_above(repo / ".git", later, base) is None  # going back: the walk reaches a root commit that is not the base
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    unrelated = commit(repo, "u")
    assert commits_above(repo / ".git", base, unrelated) is None  # not descending from the base
    git(repo, "repack", "-a", "-d", "-q")  # packed, not loose: not one of the commits just taken
    assert commits_above(repo / ".git", base, later) is None
    assert commits_above(repo / ".git", base, "0" * 40) is None  # names nothing


def test_a_commit_the_repository_holds_already_is_read_from_the_store_it_borrows(repo, tmp_path):
    base = git(repo, "rev-parse", "HEAD")
    head = commit(repo, "same")  # as another agent's import left it in the repository
    own = tmp_path / "own.git"
    (own / "objects" / "info").mkdir(parents=True)
    assert commits_above(own, base, head) is None
    (own / "objects" / "info" / "alternates").write_text(f"{repo / '.git' / 'objects'}\n")
    assert commits_above(own, base, head) == 1
