"""Copy-on-write workspaces: one read-only base checkout per (repository, commit, owner) on a host,
shared by every workspace that starts from that commit; each workspace is an overlay of it.

A base is `$ORCHARD_HOME/bases/<repo>-<commit>-<uid>/tree`: a repository borrowing the user's
objects (as every workspace does), checked out once, its index made stat-clean without reading a file and split, and git told
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
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from activities.git.command import git, is_ancestor
from activities.git.stat_index import restat_index
from activities.paths import orchard_home
from activities.timeline import mark
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
                _libc().umount2(os.fsencode(merged), 0)  # by the syscall, as it was mounted: no `umount` found on PATH
            return None, options
    return f"the filesystem under {bases_dir()} refuses overlay mounts ({refused})", ""


@contextlib.asynccontextmanager
async def _locked(path: Path, shared: bool = False) -> AsyncIterator[None]:
    """An exclusive lock on `path` shared by every worker on the host, waited for without blocking
    (`shared`: one that others may hold at once, never with an exclusive one). The lock file may be
    removed by its holder (sweep_bases): a lock taken on a file that is no longer the one at `path`
    is let go and taken again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = path.open("a")
        try:
            while True:
                try:
                    fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
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


def _in_use(base: Path) -> bool:
    try:
        return any((base / "users").iterdir())
    except OSError:
        return False


def _user_file(base: Path, workspace: Path) -> Path:
    return base / "users" / hashlib.sha256(str(workspace).encode()).hexdigest()[:16]


async def _make_base(repo: str | Path, commit: str, base: Path, objects: Path, identity: tuple[str, str], owner: int) -> None:
    tree = base / "tree"
    if base.exists():  # a try that died half-way, or a removal that did
        gone = base.with_name(f"{GONE}{base.name}-{uuid.uuid4().hex[:8]}")
        os.rename(base, gone)
        await asyncio.to_thread(_delete_base, gone)
    tree.mkdir(parents=True)
    _init_git_dir(tree / ".git", objects, identity)
    # The checkout writes a whole index, made stat-clean (restat_index) before it is split: the
    # tree's entries in a shared file the workspaces read from the base, and in each workspace only
    # a small index of what changed there.
    checkout_started = time.time()
    # Index version 2 whatever the host's git config says (feature.manyFiles asks for 4): what restat_index edits.
    await git("-c", "core.splitIndex=false", "-c", "index.version=2", "checkout", "--quiet", "--detach", commit, cwd=tree)
    mark("base: checked out")
    lent = owner != os.geteuid()
    if lent:  # before the index is made stat-clean: it records each file's owner, which git compares
        await asyncio.to_thread(chown_tree, tree, owner)
    await _index_past_racy(tree, checkout_started, lent)
    if lent:  # what the index's writes made
        await asyncio.to_thread(chown_tree, tree / ".git", owner)
    seal(tree)
    (base / SEALED).write_text(f"{time.time_ns() / 1e9:.9f}")  # after every write to the tree: see _intact
    (base / "users").mkdir()
    (base / "ready").write_text(commit)
    mark("base: ready")


def _init_git_dir(dot_git: Path, objects: Path, identity: tuple[str, str]) -> None:
    """What `git init` makes (its sample hooks aside), borrowing `objects`, with Orchard's config:
    a git process fewer on a run's path. HEAD names no commit yet: the checkout detaches it."""
    for folder in ("branches", "hooks", "info", "objects/info", "objects/pack", "refs/heads", "refs/tags"):
        (dot_git / folder).mkdir(parents=True)
    (dot_git / "HEAD").write_text("ref: refs/heads/main\n")
    (dot_git / "description").write_text("Unnamed repository; edit this file 'description' to name the repository.\n")
    (dot_git / "info" / "exclude").write_text("")
    (dot_git / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    (dot_git / "config").write_text(git_config(identity, overlay=True))


RACY_INDEX_BYTES = 256 * 1024
"""An index this big (some 3,000 files) is made not racily clean after its checkout (see below)."""


async def _index_past_racy(tree: Path, checkout_started: float, lent: bool) -> None:
    """Files written in the same second as the index are "racily clean" to git (this git compares
    whole seconds), so every git command in every workspace would read them all again to be sure:
    0.25 s a command on 20,000 files. So a large index's files of the checkout's last second are
    dated a second back and their entries given their new stat data, no file read
    (activities/git/stat_index.py): every entry is then older than the index and than anything an
    agent writes, and a workspace's first `git add -A` costs 0.05 s. `lent`: the files changed owner
    since the checkout recorded them; every entry is given its own again. Where the index is not one
    restat_index edits, the files are dated back and git refreshes the index (which reads every
    file: 0.74 s on 20,000). The index is split, in the same pass where restat_index can (else by
    git): the entries go to the base's shared index, or a workspace's first write would fold them
    into a shared index of its own (1.8 MB each on 20,000 files). A small tree's racy entries are
    left as they are: its re-reads cost less than dating its files back."""
    index = tree / ".git" / "index"
    large = index.stat().st_size >= RACY_INDEX_BYTES
    # In the same pass, the entries to a new shared index (restat_index's split). No git of the
    # base's or its workspaces' compares ctimes (git_config): a file dated back is not stat'ed again.
    if await asyncio.to_thread(functools.partial(restat_index, tree, lent, split=True, fix_racy=large or lent, trust_ctime=False)):
        if any((tree / ".git").glob("sharedindex.*")):
            return
    elif large or lent:
        if large:
            await asyncio.to_thread(_date_back, tree, checkout_started - 1)
        await git("update-index", "-q", "--refresh", cwd=tree)
    await git("-c", "splitIndex.sharedIndexExpire=now", "update-index", "--split-index", cwd=tree)


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
        # A base that workspaces use is joined alongside the others joining it (best-of-n's
        # instances, once the first has made it): none waits for another's turn. Making a base,
        # taking up an idle one and removing one take the lock alone.
        async with _locked(_lock_of(base), shared=True):
            joined = (base / "ready").is_file() and _in_use(base)
            if joined:
                _user_file(base, workspace).write_text(str(workspace))
        if joined:
            break
        async with _locked(_lock_of(base)):
            ready = (base / "ready").is_file() and (base / "users").is_dir()
            if ready and not any((base / "users").iterdir()) and not await _intact(base):  # idle, and changed meanwhile: never served
                await _remove_if_unused(base, 0)
                ready = False
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
    """A ready base on this host of an ancestor of `commit` that workspaces use (a run's, for its
    scorers and checks), the newest first, if there is one. One kept idle for its grace serves its
    own commit only: moved to a later commit, every workspace would write what changed since,
    which for a commit far ahead is more than one checkout."""
    ready = sorted(bases_dir().glob(f"{key_hash8(str(repo))}-*-{owner}/ready"), key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
    for marker in ready:
        with contextlib.suppress(OSError):  # gone meanwhile
            if _in_use(marker.parent) and await is_ancestor(repo, marker.read_text().strip(), commit):
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
    """Unmount an overlay workspace, delete only what was written in it, and when it was its base's
    last workspace, remove the base once its grace (base_grace) has passed with no other."""
    layers = layers_of(workspace)
    base = Path((layers / "base").read_text())
    if os.path.ismount(workspace):
        await _detach(workspace)
    await asyncio.to_thread(shutil.rmtree, layers, True)
    with contextlib.suppress(OSError):
        workspace.rmdir()
    async with _locked(_lock_of(base)):
        _user_file(base, workspace).unlink(missing_ok=True)
        await _expire(base, base_grace())


async def _remove_if_unused(base: Path, grace: float) -> bool:
    """Remove a base no workspace has used for `grace` seconds: renamed first, so a worker killed
    while deleting it leaves a `.gone-` folder (the sweep's), never a base that looks ready with
    half its files. Under the base's lock."""
    idle = _idle_for(base)
    if idle is not None and idle >= grace:
        gone = base.with_name(f"{GONE}{base.name}-{uuid.uuid4().hex[:8]}")
        os.rename(base, gone)  # the base is gone from here on; deleting its files is left to finish on its own
        _in_background(asyncio.to_thread(_delete_base, gone))
        return True
    return False


async def _expire(base: Path, grace: float, adopt: bool = True) -> bool:
    """Under the base's lock: remove it if it has had no workspace for `grace` seconds (and its lock
    file: whoever waits on it takes the lock again on a new file); else, while it has none, time
    its removal in this process (`adopt`). Whether it was removed."""
    removed = await _remove_if_unused(base, grace)
    if removed or not base.exists():
        _lock_of(base).unlink(missing_ok=True)
        return removed
    if adopt and _idle_for(base) is not None:
        _time_removal(base)
    return False


async def sweep_bases(adopt: bool = True) -> int:
    """Bases no workspace uses any more (a worker died while it removed its last one, or after
    making the base): forget users that are gone, remove what has been unused for its grace;
    `adopt`: time the removal of the rest in this process (a worker's start; not a command that
    exits at once, as `orchard clean`). How many were removed."""
    removed = 0
    for gone in bases_dir().glob(f"{GONE}*"):
        await asyncio.to_thread(_delete_base, gone)
    for lock in sorted(bases_dir().glob("*.lock")):
        base = lock.with_suffix("")
        async with _locked(lock):
            for user in (base / "users").glob("*"):
                if not is_overlay(Path(user.read_text())):
                    user.unlink()
            removed += await _expire(base, base_grace(), adopt)
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


# A base's grace: kept for a while after its last workspace, so a run or a loop from the same
# commit soon after mounts it rather than checking the tree out again.

BASE_GRACE_SECONDS = 60.0
SEALED = "sealed"
"""A base's file holding when its tree was sealed (seconds since the epoch): nothing under the tree may have changed since."""


def base_grace_setting() -> tuple[float, str | None]:
    """How long a base outlives its last workspace: ORCHARD_BASE_GRACE seconds in this process's
    environment (0: removed with it), default BASE_GRACE_SECONDS; and why the value set was not
    taken (None: it was, or none is set)."""
    value = os.environ.get("ORCHARD_BASE_GRACE", "")
    try:
        return (max(0.0, float(value)) if value.strip() else BASE_GRACE_SECONDS), None
    except ValueError:
        return BASE_GRACE_SECONDS, f"ORCHARD_BASE_GRACE={value!r} is no number of seconds: bases are kept {BASE_GRACE_SECONDS:g} s"


def base_grace() -> float:
    """The grace on the worker's host (base_grace_setting), a value it cannot take logged."""
    grace, problem = base_grace_setting()
    if problem:
        logging.warning("%s", problem)
    return grace


def kept_bases() -> list[tuple[Path, float]]:
    """The bases kept now after their last workspace, for their grace: each with the seconds since
    that workspace left."""
    found = sorted(p for p in bases_dir().iterdir() if p.is_dir() and not p.name.startswith(".")) if bases_dir().is_dir() else []
    return [(base, idle) for base in found if (idle := _idle_for(base)) is not None]


def _idle_for(base: Path) -> float | None:
    """Seconds since a base's last workspace left (when its `users/` last changed), None while one
    uses it or when it is no base (gone, or never made ready)."""
    users = base / "users"
    try:
        if any(users.iterdir()) or not (base / "ready").is_file():
            return None
        return max(0.0, time.time() - users.stat().st_mtime)
    except OSError:
        return None


async def _intact(base: Path) -> bool:
    """Whether an idle base may be served again: its tree still sealed read-only, and nothing
    under it (files, folders, links, its .git) changed since it was sealed: no ctime is newer,
    and only the kernel sets ctimes. A change through an overlay never reaches it; this is what
    proves so before a workspace of a later run trusts it."""
    tree = base / "tree"
    try:
        sealed = (base / SEALED).read_text().strip()
        if not os.statvfs(tree).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    proc = await asyncio.create_subprocess_exec("find", str(tree), "-newerct", f"@{sealed}", "-print", "-quit",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    if proc.returncode != 0 or out:
        logging.warning("base %s changed after it was sealed (%s): made again", base.name, os.fsdecode(out.strip()) or f"find exited {proc.returncode}")
        return False
    return True


_timed: dict[Path, asyncio.Task[None]] = {}
"""The bases whose removal this process times, once their grace has passed with no workspace."""


def _time_removal(base: Path) -> None:
    timer = _timed.get(base)
    if timer is None or timer.done() or timer.get_loop() is not asyncio.get_running_loop():
        _timed[base] = asyncio.get_running_loop().create_task(_remove_when_expired(base))


async def _remove_when_expired(base: Path) -> None:
    """Wait out a base's grace, again while workspaces come and go, and remove it when it is over
    with none (another worker may have removed it, or be using it: the lock settles it)."""
    try:
        while (idle := _idle_for(base)) is not None:
            grace = base_grace()
            if idle < grace:
                await asyncio.sleep(grace - idle + 0.05)
                continue
            async with _locked(_lock_of(base)):
                await _expire(base, grace, adopt=False)
            return
    finally:
        if _timed.get(base) is asyncio.current_task():
            del _timed[base]


async def release_bases() -> int:
    """A worker's stop: the bases it was keeping for their grace are removed now, if still unused
    (nothing of this worker's would remove them later); how many."""
    loop = asyncio.get_running_loop()
    mine = [base for base, timer in _timed.items() if timer.get_loop() is loop]
    removed = 0
    for base in mine:
        _timed.pop(base).cancel()
        if _idle_for(base) is not None:
            async with _locked(_lock_of(base)):
                removed += await _expire(base, 0, adopt=False)
    return removed
