"""A checkout's index made stat-clean and not racily clean without reading a file (restat_index),
on plain checkouts; the overlay tests (test_overlay.py) cover it through bases and workspaces."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from activities.git.stat_index import restat_index
from tests.conftest import git, make_repo

FILES = {f"src/f{i:02d}.txt": f"line {i}\n" for i in range(40)} | {"run.sh": "#!/bin/sh\n", "link": ""}


def _checkout(tmp_path: Path) -> Path:
    """A fresh checkout (its index unsplit, as a base's is written), its files written this second."""
    repo = make_repo(tmp_path / "repo", FILES)
    os.remove(repo / "link")
    os.symlink("run.sh", repo / "link")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "link and mode")
    tree = tmp_path / "tree"
    git(tmp_path, "-c", "core.splitIndex=false", "clone", "-q", "--no-checkout", str(repo), "tree")
    git(tree, "-c", "core.splitIndex=false", "checkout", "-q", "--detach", "HEAD")
    return tree


def _entry_mtimes(tree: Path) -> dict[str, int]:
    """Each index entry's recorded mtime (whole seconds), as git reads it."""
    lines, out, name = git(tree, "ls-files", "--debug").splitlines(), {}, ""
    for line in lines:
        if not line.startswith(" "):
            name = line
        elif line.strip().startswith("mtime:"):
            out[name] = int(line.split()[1].split(":")[0])
    return out


def test_every_entry_is_older_than_the_index_and_clean_and_no_file_was_read(tmp_path):
    tree = _checkout(tmp_path)
    assert restat_index(tree)
    index_second = int((tree / ".git" / "index").stat().st_mtime)
    recorded = _entry_mtimes(tree)
    assert len(recorded) == len(FILES) and max(recorded.values()) < index_second  # none racily clean: none is read again
    for name in recorded:
        st = os.lstat(tree / name)
        assert int(st.st_mtime) == recorded[name]
        assert st.st_atime_ns <= st.st_mtime_ns, name  # written or dated back, never read since (relatime would move atime on a read)
    assert git(tree, "diff-files", "--name-only") == ""  # stat data only: nothing to refresh
    assert git(tree, "status", "--porcelain") == ""


def test_a_change_of_the_same_size_in_the_same_second_is_still_seen_and_committed(tmp_path):
    tree = _checkout(tmp_path)
    assert restat_index(tree)
    (tree / "src" / "f07.txt").write_text("line X\n")  # an agent at once: same size, and (likely) the index's second
    assert git(tree, "status", "--porcelain") == "M src/f07.txt"
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "agent")
    assert git(tree, "diff", "--name-only", "HEAD^", "HEAD") == "src/f07.txt"  # only the change: nothing else looked changed
    assert git(tree, "show", "HEAD:src/f07.txt") == "line X"


def test_an_index_it_does_not_edit_or_a_file_not_as_its_entry_says_is_left_as_it_is(tmp_path):
    tree = _checkout(tmp_path)
    git(tree, "update-index", "--index-version", "4")  # prefix-compressed names
    before = (tree / ".git" / "index").read_bytes()
    assert not restat_index(tree) and (tree / ".git" / "index").read_bytes() == before
    git(tree, "update-index", "--index-version", "2")
    (tree / "src" / "f03.txt").write_text("a longer line\n")  # not what the checkout wrote
    before = (tree / ".git" / "index").read_bytes()
    assert not restat_index(tree, restat_all=True) and (tree / ".git" / "index").read_bytes() == before
    subprocess.run(["git", "update-index", "--refresh"], cwd=tree, capture_output=True)
    assert git(tree, "status", "--porcelain") == "M src/f03.txt"


def test_written_split_it_is_what_git_s_split_index_writes_and_git_reads_it_clean(tmp_path):
    """A base's index is split in restat_index's own pass: byte for byte what `git update-index
    --split-index` makes of the same index (the entries in `sharedindex.<hash>`, the index itself a
    link to it and the cache tree), so every git reads it as it reads git's own."""
    tree = _checkout(tmp_path)
    assert restat_index(tree)
    theirs = tmp_path / "theirs.git"  # the same index, split by git
    subprocess.run(["cp", "-a", str(tree / ".git"), str(theirs)], check=True)
    subprocess.run(["git", f"--git-dir={theirs}", "-c", "splitIndex.sharedIndexExpire=now", "update-index", "--split-index"], check=True)
    assert restat_index(tree, split=True)  # nothing racy left to date back: only split
    ours_shared, theirs_shared = (sorted(d.glob("sharedindex.*")) for d in (tree / ".git", theirs))
    assert len(ours_shared) == 1 and [p.name for p in ours_shared] == [p.name for p in theirs_shared]
    assert ours_shared[0].read_bytes() == theirs_shared[0].read_bytes()
    assert (tree / ".git" / "index").read_bytes() == (theirs / "index").read_bytes()
    assert git(tree, "ls-files").splitlines() == sorted(FILES)


def test_an_index_with_racy_entries_left_or_an_extension_git_must_understand_is_written_whole(tmp_path):
    """git's split keeps racily clean entries out of the shared index, and only git knows a required
    extension (a lower-case signature): then the index is written whole, for git to split."""
    tree = _checkout(tmp_path)
    assert restat_index(tree, split=True, fix_racy=False)  # a small tree's racy entries left as they are
    assert not list((tree / ".git").glob("sharedindex.*")) and git(tree, "ls-files").splitlines() == sorted(FILES)
    index = tree / ".git" / "index"
    data = index.read_bytes()[:-20] + b"abcd\0\0\0\0"
    index.write_bytes(data + hashlib.sha1(data).digest())
    assert restat_index(tree, split=True)
    assert not list((tree / ".git").glob("sharedindex.*")) and index.read_bytes().endswith(b"abcd\0\0\0\0" + index.read_bytes()[-20:])


def test_for_gits_that_trust_no_ctime_a_file_dated_back_is_not_asked_again_and_its_entry_is_clean(tmp_path):
    """A base's gits compare no ctime (core.trustctime=false): an entry dated back gets the mtime it
    was dated to, with no stat of the file, and git finds every file clean and a same-size change."""
    tree = _checkout(tmp_path)
    git(tree, "config", "core.trustctime", "false")
    assert restat_index(tree, trust_ctime=False)
    index_second = int((tree / ".git" / "index").stat().st_mtime)
    recorded = _entry_mtimes(tree)
    assert max(recorded.values()) < index_second
    assert all(int(os.lstat(tree / name).st_mtime) == recorded[name] for name in recorded)
    assert git(tree, "diff-files", "--name-only") == ""
    (tree / "src" / "f07.txt").write_text("line X\n")
    assert git(tree, "status", "--porcelain") == "M src/f07.txt"
