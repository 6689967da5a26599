"""Copy-on-write workspaces: one read-only base checkout per (repository, commit, owner) on a host,
shared by every workspace that starts from that commit; each workspace is an overlay of it.

A base is `$ORCHARD_HOME/bases/<repo>-<commit>-<uid>/tree`: a repository borrowing the user's
objects (as every workspace does), checked out once, its index refreshed and split, and git told
to trust the index through the overlay (`core.trustctime=false`: a file seen through an overlay has
another ctime than the one the index recorded; its inode number is the base's until it is written,
and then its own, so a base file put in another's place, of the same size and time, is still seen:
`core.checkStat=minimal`, which ignores inodes, missed that). A workspace is
an overlayfs mount of it with a private upper and work directory beside the workspace
(`.<name>.layers/`): the agent's writes, the workspace's branch and index land there, and nothing
it does reaches the base or a sibling. Making one is a mount and two small files; removing it an
unmount and deleting what the agent wrote.

A base knows its workspaces by one file each in its `users/` folder (the workspace's path), so
the count survives a worker that crashed: removing a workspace removes its file, and the last
one out removes the base. All of it under the base's lock, taken without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from activities.git.command import git, is_ancestor
from activities.paths import orchard_home
from workflows.sdk.models import key_hash8

LOCK_POLL_SECONDS = 0.02
GONE = ".gone-"
"""The prefix of a base being deleted."""


def git_config(identity: tuple[str, str], overlay: bool) -> str:
    """The config of the git directories Orchard makes: a base's, a workspace's own and an agent's.
    An overlay's index is split (the tree's entries in the base's shared index) and trusts no
    ctime (a file seen through an overlay has another). No automatic gc: a workspace's objects
    stay loose, which is how they are handed to the repository (activities/git/objects.py)."""
    name, email = identity
    overlaid = "\ttrustctime = false\n\tsplitIndex = true\n[splitIndex]\n\tsharedIndexExpire = never\n" if overlay else ""
    return (f"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n{overlaid}"
            f"[gc]\n\tauto = 0\n[user]\n\tname = {json.dumps(name, ensure_ascii=False)}\n\temail = {json.dumps(email, ensure_ascii=False)}\n")


def bases_dir() -> Path:
    return orchard_home() / "bases"


def layers_of(workspace: Path) -> Path:
    """Where a workspace's upper and work directories live: beside it, never inside the merged view."""
    return workspace.parent / f".{workspace.name}.layers"


FAST_OPTIONS = "metacopy=on,volatile"
"""Where the kernel has them: a file whose metadata alone changes (git freshening its shared index,
a chown) is copied up without its data, and unmounting skips syncing the upper layer's whole
filesystem (a workspace's upper layer is thrown away, never mounted again)."""


def checkouts_asked() -> bool:
    """The host's owner asked for a checkout per workspace (ORCHARD_WORKSPACES=checkout)."""
    return os.environ.get("ORCHARD_WORKSPACES") == "checkout"


def overlay_unavailable() -> str | None:
    """Why workspaces cannot be overlays on this host (None: they can)."""
    return "ORCHARD_WORKSPACES=checkout asks for full checkouts" if checkouts_asked() else _probe()[0]


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path, options: str = "") -> None:
    """An overlay of `lower` at `target`, by mount(2) itself (OSError when the kernel refuses): a
    `mount` process (its fork, exec and fstab) cost 2-7 ms of a workspace's 3-16 ms on this host."""
    data = f"lowerdir={lower},upperdir={upper},workdir={work}" + (f",{options}" if options else "")
    if _libc().mount(b"overlay", os.fsencode(target), b"overlay", 0, os.fsencode(data)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


MS_RDONLY, MS_REMOUNT, MS_BIND, MNT_DETACH = 1, 32, 4096, 2


def seal(tree: Path) -> None:
    """`tree` read-only from here on, root included: a read-only bind mount of itself. An agent
    that writes a base's files by their path (or `../`) gets EROFS; through its own overlay its
    writes go to its upper layer. (A root agent could remount it: the local runner stops mistakes
    and careless agents, not one that sets out to escape: see the README's Runners.)"""
    target = os.fsencode(tree)
    for source, flags in ((target, MS_BIND), (None, MS_REMOUNT | MS_BIND | MS_RDONLY)):
        if _libc().mount(source, target, None, flags, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(tree))


def _unseal(tree: Path) -> None:
    """Take seal's mount off `tree`, if it has one (a base being deleted)."""
    _libc().umount2(os.fsencode(tree), MNT_DETACH)


def _delete_base(gone: Path) -> None:
    _unseal(gone / "tree")
    shutil.rmtree(gone, True)


def _mount_options() -> str:
    return _probe()[1]


@functools.cache
def _probe() -> tuple[str | None, str]:
    """(why overlays cannot be mounted here or None, the extra mount options that work). Probed once
    per process (the warm client's commands inherit its answer) by mounting a tiny overlay where the
    workspaces live, with FAST_OPTIONS, else without."""
    if os.geteuid() != 0:
        return "overlay mounts need root, and this worker runs as uid " + str(os.geteuid()), ""
    bases_dir().mkdir(parents=True, exist_ok=True)
    refused = ""
    for options in (FAST_OPTIONS, ""):
        with tempfile.TemporaryDirectory(prefix=".probe-", dir=bases_dir()) as probe:
            lower, upper, work, merged = (Path(probe) / name for name in ("lower", "upper", "work", "merged"))
            for folder in (lower, upper, work, merged):
                folder.mkdir()
            (lower / "f").write_text("base")
            try:
                mount_overlay(lower, upper, work, merged, options)
            except OSError as e:
                refused = e.strerror or str(e)
                continue
            try:
                (merged / "f").write_text("changed")
                if (lower / "f").read_text() != "base":
                    return "an overlay write reached its lower layer", ""
            finally:
                subprocess.run(["umount", str(merged)], capture_output=True)
            return None, options
    return f"the filesystem under {bases_dir()} refuses overlay mounts ({refused})", ""


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on `path` shared by every worker on the host, waited for without blocking.
    The lock file may be removed by its holder (sweep_bases): a lock taken on a file that is no
    longer the one at `path` is let go and taken again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = path.open("a")
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LOCK_POLL_SECONDS)
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(handle.fileno()).st_ino:
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        finally:
            handle.close()


def _user_file(base: Path, workspace: Path) -> Path:
    return base / "users" / hashlib.sha256(str(workspace).encode()).hexdigest()[:16]


async def _make_base(repo: str | Path, commit: str, base: Path, objects: Path, identity: tuple[str, str], owner: int) -> None:
    tree = base / "tree"
    if base.exists():  # a try that died half-way, or a removal that did
        gone = base.with_name(f"{GONE}{base.name}-{uuid.uuid4().hex[:8]}")
        os.rename(base, gone)
        await asyncio.to_thread(_delete_base, gone)
    tree.mkdir(parents=True)
    await git("init", "--quiet", cwd=tree)
    (tree / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    (tree / ".git" / "config").write_text(git_config(identity, overlay=True))
    # The checkout writes a split index: the tree's entries in a shared file the workspaces read
    # from the base, and in each workspace only a small index of what changed there.
    checkout_started = time.time()
    await git("checkout", "--quiet", "--detach", commit, cwd=tree)
    lent = owner != os.geteuid()
    if lent:  # before the index is refreshed: it records each file's owner, which git compares
        await asyncio.to_thread(chown_tree, tree, owner)
    if not await _index_past_racy(tree, checkout_started) and lent:
        await git("update-index", "-q", "--refresh", cwd=tree)
    if lent:  # what the refresh wrote
        await asyncio.to_thread(chown_tree, tree / ".git", owner)
    seal(tree)
    (base / "users").mkdir()
    (base / "ready").write_text(commit)


RACY_INDEX_BYTES = 256 * 1024
"""An index this big (some 3,000 files) has its files dated back after its checkout (see below)."""


async def _index_past_racy(tree: Path, checkout_started: float) -> bool:
    """Files written in the same second as the index are "racily clean" to git (this git compares
    whole seconds), so every git command in every workspace would read them all again to be sure:
    0.25 s a command on 20,000 files. So the files are dated a second before their checkout began
    and the index refreshed: every entry is then older than the index and than anything an agent
    writes, and a workspace's first `git add -A` costs 0.05 s. (That costs 0.2-0.3 s on 20,000
    files; waiting for the second to pass, as before, cost up to 1 s.) The refreshed entries must
    go to the base's shared index, not its small split part, or a workspace's first write would
    fold them into a shared index of its own (1.8 MB each on 20,000 files): `--split-index` pushes
    them back. A small tree's re-reads cost less than this. Whether the index was refreshed."""
    indexes = [tree / ".git" / "index", *(tree / ".git").glob("sharedindex.*")]
    if sum(i.stat().st_size for i in indexes if i.exists()) < RACY_INDEX_BYTES:
        return False
    await asyncio.to_thread(_date_back, tree, checkout_started - 1)
    # One write: the refreshed entries pushed back into a new shared index, the checkout's removed.
    await git("-c", "splitIndex.sharedIndexExpire=now", "update-index", "--refresh", "--split-index", cwd=tree)
    return True


def _date_back(tree: Path, when: float) -> None:
    """Every file of the work tree (not .git's) modified at `when`, as far as git can tell."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)


def chown_tree(root: Path, uid: int) -> None:
    """`root` and everything under it owned by `uid` (and its group of the same number); links not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, uid)
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)


async def mount_workspace(repo: str | Path, commit: str, workspace: Path, objects: Path, identity: tuple[str, str],
                          owner: int | None = None) -> tuple[Path, str]:
    """`workspace`: an overlay of a base checkout of `commit`, or of one of its ancestors already on
    the host (a candidate scored or checked over the run's base); the base's tree and the commit it
    is at (the caller moves the workspace from there to `commit`). `owner` owns the base and the
    workspace (the docker runner's agent user; default this process's)."""
    owner = os.geteuid() if owner is None else owner
    own = bases_dir() / f"{key_hash8(str(repo))}-{commit}-{owner}"
    layers = layers_of(workspace)
    upper, work = layers / "upper", layers / "work"
    for folder in (upper, work, workspace):
        folder.mkdir(parents=True, exist_ok=True)
    base = own if (own / "ready").is_file() else await _ancestor_base(repo, commit, owner) or own
    while True:
        (layers / "base").write_text(str(base))  # before it counts as the base's user: see sweep_bases
        async with _locked(_lock_of(base)):
            ready = (base / "ready").is_file() and (base / "users").is_dir()
            if ready or base == own:
                if not ready:
                    await _make_base(repo, commit, base, objects, identity, owner)
                _user_file(base, workspace).write_text(str(workspace))
                break
        base = own  # the ancestor's base went away meanwhile
    if owner != os.geteuid():
        os.chown(upper, owner, owner)
    await asyncio.to_thread(mount_overlay, base / "tree", upper, work, workspace, _mount_options())
    return base / "tree", (base / "ready").read_text().strip()


async def _ancestor_base(repo: str | Path, commit: str, owner: int) -> Path | None:
    """A ready base on this host of an ancestor of `commit`, the newest first, if there is one."""
    ready = sorted(bases_dir().glob(f"{key_hash8(str(repo))}-*-{owner}/ready"), key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
    for marker in ready:
        with contextlib.suppress(OSError):  # gone meanwhile
            if await is_ancestor(repo, marker.read_text().strip(), commit):
                return marker.parent
    return None


def is_overlay(workspace: Path) -> bool:
    return (layers_of(workspace) / "base").is_file()


WRITTEN_PATHS_LIMIT = 2000
"""Past this many written paths git is asked to look at the whole tree instead (a command line of them)."""
REPLACED_DIR_XATTRS = ("trusted.overlay.opaque", "trusted.overlay.redirect")
"""A folder in the upper layer that hides the base's (made anew) or shows another of its folders (renamed)."""


def written_paths(workspace: Path) -> list[str] | None:
    """The paths written in an overlay workspace's tree since it was made (its .git aside): what
    the upper layer holds (files, symlinks, the whiteouts of deleted paths, and folders that replace
    or rename the base's). Everything else is the base's, which the workspace's index matched when
    it was made, so git need look at these only. None when the workspace is no overlay, or when the
    paths are too many to name."""
    if not is_overlay(workspace):
        return None
    upper = layers_of(workspace) / "upper"
    written: list[str] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        if dirpath == str(upper):
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames:
            folder = os.path.join(dirpath, name)
            if any(_xattr(folder, attr) for attr in REPLACED_DIR_XATTRS):
                written.append(os.path.relpath(folder, upper))
        written.extend(os.path.relpath(os.path.join(dirpath, name), upper) for name in filenames)
        if len(written) > WRITTEN_PATHS_LIMIT:
            return None
    return written


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


async def unmount_workspace(workspace: Path) -> None:
    """Unmount an overlay workspace, delete only what was written in it, and remove its base when
    it was the base's last workspace."""
    layers = layers_of(workspace)
    base = Path((layers / "base").read_text())
    if os.path.ismount(workspace):
        await _detach(workspace)
    await asyncio.to_thread(shutil.rmtree, layers, True)
    with contextlib.suppress(OSError):
        workspace.rmdir()
    async with _locked(_lock_of(base)):
        _user_file(base, workspace).unlink(missing_ok=True)
        if await _remove_if_unused(base):
            _lock_of(base).unlink(missing_ok=True)


async def _remove_if_unused(base: Path) -> bool:
    """Remove a base no workspace uses: renamed first, so a worker killed while deleting it leaves
    a `.gone-` folder (the sweep's), never a base that looks ready with half its files."""
    users = base / "users"
    if users.is_dir() and not any(users.iterdir()):
        gone = base.with_name(f"{GONE}{base.name}-{uuid.uuid4().hex[:8]}")
        os.rename(base, gone)  # the base is gone from here on; deleting its files is left to finish on its own
        _in_background(asyncio.to_thread(_delete_base, gone))
        return True
    return False


async def sweep_bases() -> int:
    """Bases no workspace uses any more (a worker died while it removed its last one, or after
    making the base): forget users that are gone, remove what is unused; how many were removed."""
    removed = 0
    for gone in bases_dir().glob(f"{GONE}*"):
        await asyncio.to_thread(_delete_base, gone)
    for lock in sorted(bases_dir().glob("*.lock")):
        base = lock.with_suffix("")
        async with _locked(lock):
            for user in (base / "users").glob("*"):
                if not is_overlay(Path(user.read_text())):
                    user.unlink()
            removed += await _remove_if_unused(base)
            if not base.exists():
                lock.unlink()  # whoever waits on it takes the lock again on a new file
    return removed


def _lock_of(base: Path) -> Path:
    return base.with_name(base.name + ".lock")


_finishing: set[asyncio.Future[Any]] = set()
"""What a workspace's removal leaves to finish on its own: unmounts (_detach) still freeing what
their overlay cached after it left the mount table, and a last workspace's base, renamed away,
whose files are still being deleted (20,000 of them take a second on a slow disk: a run need not
wait for that). A worker that dies meanwhile leaves a `.gone-` folder, which sweep_bases removes."""


def _in_background(work: Awaitable[Any]) -> None:
    finishing = asyncio.ensure_future(work)
    _finishing.add(finishing)
    finishing.add_done_callback(_finishing.discard)


async def finished() -> None:
    """Until what removals left to finish in this process's event loop is done (a worker's stop
    waits for it; what another, closed loop left, as a test's, is no longer any loop's to finish)."""
    loop = asyncio.get_running_loop()
    while mine := [work for work in _finishing if work.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)


_DETACHING = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="orchard-detach")
"""Threads of their own for unmounting: one may spend a second freeing a big tree's inodes, which
must not hold up the event loop's other work in the default executor."""


async def _detach(workspace: Path) -> None:
    """Take the overlay off `workspace` (lazily: a process with a file open in it keeps it alive).
    umount2(2) takes it out of the mount table at once, then frees every inode the overlay cached
    (a `git status` looks at every file) before it returns, which grows with the tree: that part is
    left to finish on its own thread, after the workspace is gone. (An `umount --lazy` process cost
    2 ms of CPU for each workspace, most of it reading the mount table.)"""
    detached = asyncio.get_running_loop().run_in_executor(_DETACHING, _umount_lazily, workspace)
    while os.path.ismount(workspace):
        if detached.done():
            detached.result()  # its error
            raise RuntimeError(f"umount --lazy {workspace}: still mounted")  # another mount over it
        await asyncio.sleep(0.001)
    _in_background(detached)


def _umount_lazily(target: Path) -> None:
    if _libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        raise RuntimeError(f"umount --lazy {target} failed: {os.strerror(code)}")
