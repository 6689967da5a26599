"""Tests an agent wrote, brought into a verification's checkout, and each test's outcome read back.

best-of-n's test writers commit tests in a folder of their own (`orchard_tests/writer_1`); every
candidate is then checked with those folders in its checkout. The folders are agent-written and so
is the checkout: Orchard's own git reads the writer's commit (objects verified when it was
imported), and only regular files are written, each by `write_path`, which makes every folder on
the way a real one (a link the candidate planted at `orchard_tests` is replaced, never followed).
Whatever the candidate had in those folders goes first, so it cannot pass tests it wrote itself,
and pytest's harness outside them (every conftest.py and pytest configuration file) is the base's,
so a candidate cannot rig the run with a hook or an option of its own. (Its own modules still run
in the test process: this narrows gaming selection, it cannot rule it out.) The tests then run as
any check does (activities/verification/check.py), offline.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from activities.git.command import git_bytes
from activities.git.untrusted import opened_dir, remove_beneath, write_path
from activities.git.workspace import git_dir_of
from workflows.sdk.models import TESTS_KEPT, TestSource

FILES_LIMIT = 1000
BYTES_LIMIT = 10 * 2**20
"""What one writer's folder may hold: more is cut (a test writer is an agent, it may write anything)."""
LOG_READ = 20 * 2**20
REGULAR_MODES = (b"100644", b"100755")
SUMMARY = re.compile(r"^=+ short test summary info =+$")
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+)")


HARNESS = frozenset({"conftest.py", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"})
"""Files through which a checkout configures or hooks into pytest."""


class TestsUnreadable(Exception):
    """A writer's folder could not be read from its commit."""


def report_command(command: str, folders: list[str]) -> str:
    """The test command, told to list every test's outcome (`-rA`) and to run the writers' folders."""
    return f"{command} -rA " + " ".join(shlex.quote(f) for f in folders)


async def bring_in(workspace: Path, sources: list[TestSource]) -> tuple[list[str], list[str]]:
    """Each source's folder of its commit into `workspace`, in place of what is there: the folders
    that hold a file now, and what was left out and why (a link, past the limits), one line each."""
    own = git_dir_of(workspace)
    skipped: list[str] = []
    present: list[str] = []
    for source in sources:
        *parents, name = source.path.split("/")
        write_path(workspace, "/".join([*parents, ".orchard-keep"]), b"")  # every folder on the way a real one
        with opened_dir(workspace, *parents) as parent:
            remove_beneath(parent, ".orchard-keep")
            remove_beneath(parent, name)
        listed = await git_bytes("ls-tree", "-r", "-z", "--full-tree", source.commit, "--", source.path, cwd=workspace, git_dir=own)
        written = size = 0
        for entry in filter(None, listed.split(b"\0")):
            meta, _, path_bytes = entry.partition(b"\t")
            mode, _, oid = meta.split(b" ")
            path = path_bytes.decode(errors="replace")
            if mode not in REGULAR_MODES:
                skipped.append(f"{path}: not a regular file (mode {mode.decode()}), left out")
                continue
            blob = await git_bytes("cat-file", "blob", oid.decode(), cwd=workspace, git_dir=own)
            written, size = written + 1, size + len(blob)
            if written > FILES_LIMIT or size > BYTES_LIMIT:
                skipped.append(f"{source.path}: more than {FILES_LIMIT} files or {BYTES_LIMIT // 2**20} MiB, the rest left out")
                break
            write_path(workspace, path, blob)
        if written:
            present.append(source.path)
    return present, skipped


async def base_harness(workspace: Path, commit: str, sources: list[TestSource]) -> list[str]:
    """Every pytest harness file of the checkout of `commit`, outside the writers' folders, made the
    base's (the commit the candidate and the writers branched from): changed ones restored, added
    ones removed, with one line each for what was put back."""
    own = git_dir_of(workspace)
    base = (await git_bytes("merge-base", "--octopus", commit, *(s.commit for s in sources), cwd=workspace, git_dir=own)).decode().strip()
    theirs, ours = await _harness(workspace, base), await _harness(workspace, commit)
    folders = tuple(s.path + "/" for s in sources)
    restored: list[str] = []
    for path in sorted(set(theirs) | set(ours)):
        if path.startswith(folders) or theirs.get(path) == ours.get(path):
            continue
        *parents, name = path.split("/")
        if path in theirs:
            write_path(workspace, path, await git_bytes("cat-file", "blob", theirs[path], cwd=workspace, git_dir=own))
        else:
            with opened_dir(workspace, *parents) as parent:
                remove_beneath(parent, name)
        what = "changes" if path in ours and path in theirs else "file"
        restored.append(f"{path}: the candidate's {what} left out of the tests' run (pytest's harness is the base's)")
    return restored


async def _harness(workspace: Path, commit: str) -> dict[str, str]:
    """The harness files of `commit` (regular files only), path → blob id."""
    listed = await git_bytes("ls-tree", "-r", "-z", "--full-tree", commit, cwd=workspace, git_dir=git_dir_of(workspace))
    found: dict[str, str] = {}
    for entry in filter(None, listed.split(b"\0")):
        meta, _, path_bytes = entry.partition(b"\t")
        mode, _, oid = meta.split(b" ")
        path = path_bytes.decode(errors="replace")
        if mode in REGULAR_MODES and path.rsplit("/", 1)[-1] in HARNESS:
            found[path] = oid.decode()
    return found


def outcomes(log: Path, sources: list[TestSource]) -> dict[str, bool]:
    """Each test's outcome from pytest's `-rA` summary in the log: passed only if every line about it
    says PASSED (a test that passed and then failed its teardown failed). Only the writers' tests."""
    with log.open("rb") as f:
        text = f.read(LOG_READ).decode(errors="replace")
    found: dict[str, bool] = {}
    in_summary = False
    folders = tuple(s.path + "/" for s in sources)
    for line in text.splitlines():
        if SUMMARY.match(line.strip()):
            in_summary = True
            continue
        match = OUTCOME.match(line) if in_summary else None
        if match is None or "::" not in match.group(2) or not match.group(2).startswith(folders):
            continue
        test = match.group(2)
        found[test] = found.get(test, True) and match.group(1) == "PASSED"
        if len(found) >= TESTS_KEPT:
            break
    return found
