"""Isolated workspaces, and Orchard's own git directory for each.

A workspace is a checkout of a commit with a `.git` of its own that borrows the user's objects (an
alternates file, no history copied): the agent's repository, with its own refs, index and config,
so nothing it does with git can move a branch of the user's repository. Where overlays can be
mounted, the checkout is a copy-on-write overlay of a base checkout the host shares
(activities/git/overlay.py).

That `.git` is the agent's to do with as it likes, so Orchard's own git never uses it: each
workspace has a git directory of Orchard's beside it (`.<name>.git`, out of a container's reach),
with its own HEAD, index and object store, and Orchard's git runs there with the workspace as its
work tree. What the agent committed is taken from its `.git` by reading its HEAD and its objects,
no link followed and every object verified (activities/git/untrusted.py, intake.py); before each
agent or command, Orchard writes the agent's `.git` anew where it matters (HEAD, its branch, the
index, config, alternates) from its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from activities.git.command import git, git_bytes
from activities.git.intake import check_store, take_objects
from activities.git.objects import move_loose_objects, objects_dir
from activities.git.overlay import git_config, is_overlay, mount_workspace, overlay_unavailable, unmount_workspace, written_paths
from activities.git.untrusted import Untrusted, folder_beneath, kind_beneath, opened_dir, read_ref, remove_beneath, write_beneath, write_path

AGENT_NAME = "Orchard Agent"
AGENT_EMAIL = "agent@orchard.invalid"


class WorkspaceTampered(Exception):
    """What an agent left in its workspace's `.git` is out of place: nothing of its work is taken."""


_identity: list[tuple[str, str]] = []


async def commit_identity(cwd: Path) -> tuple[str, str]:
    """(name, email) agents commit as: the worker's git identity, else Orchard's (asked once)."""
    if not _identity:
        name = await git("config", "user.name", cwd=cwd, check=False)
        email = await git("config", "user.email", cwd=cwd, check=False)
        _identity.append((name, email) if name and email else (AGENT_NAME, AGENT_EMAIL))
    return _identity[0]


def git_dir_of(workspace: Path) -> Path:
    """Orchard's own git directory for `workspace`: beside it, never inside it."""
    return workspace.parent / f".{workspace.name}.git"


def gateway_of(workspace: Path) -> Path:
    """The bare repository a pipeline's workspace has as its `origin` (activities/workspaces/gateway.py)."""
    return workspace.parent / f"{workspace.name}-origin.git"


async def wgit(workspace: Path, *args: str, check: bool = True) -> str:
    """`git ARGS` on `workspace` with Orchard's own git directory for it."""
    return await git(*args, cwd=workspace, check=check, git_dir=git_dir_of(workspace))


def orchard_head(workspace: Path) -> str:
    """The commit Orchard's git directory for `workspace` is at (it keeps HEAD detached)."""
    return (git_dir_of(workspace) / "HEAD").read_text().strip()


def _make_git_dir(own: Path, commit: str, objects: Path, identity: tuple[str, str], base_tree: Path | None) -> None:
    """A git directory at `own` at `commit`, borrowing `objects`; an overlay's starts with its base's
    index, whose shared part it reads from the base."""
    if own.exists():
        shutil.rmtree(own)
    for folder in ("objects/info", "refs/heads", "refs/tags", "info"):
        (own / folder).mkdir(parents=True)
    (own / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    (own / "config").write_text(git_config(identity, overlay=base_tree is not None))
    (own / "HEAD").write_text(f"{commit}\n")
    if base_tree is not None:
        shutil.copyfile(base_tree / ".git" / "index", own / "index")
        for shared in (base_tree / ".git").glob("sharedindex.*"):
            (own / shared.name).symlink_to(shared)


async def prepare_workspace(repo: str | Path, commit: str, dest: Path, branch: str, owner: int | None = None) -> Path:
    """A workspace at `dest` on a new local branch `branch` at `commit` of `repo`: a copy-on-write
    overlay of the host's base checkout of `commit` where overlays can be mounted
    (activities/git/overlay.py), else a checkout of its own; with Orchard's git directory beside
    it. `owner`: the uid the tree belongs to (the docker runner's agent user), when it is not this
    process's. A checkout is one git process (its cost the checkout's, as for `git worktree add`)."""
    await remove_workspace(dest)
    with _run_folder_lock(dest.parent):
        dest.mkdir(parents=True)
    objects = await objects_dir(repo)
    identity = await commit_identity(dest)
    own = git_dir_of(dest)
    if overlay_unavailable() is None:
        base_tree, start = await mount_workspace(repo, commit, dest, objects, identity, owner)
        _make_git_dir(own, start, objects, identity, base_tree)
        if start != commit:  # an ancestor's base: the files that differ, and the index
            await wgit(dest, "read-tree", "-m", "-u", start, commit)
            (own / "HEAD").write_text(f"{commit}\n")
    else:
        _make_git_dir(own, commit, objects, identity, None)
        await wgit(dest, "reset", "--quiet", "--hard", commit)
    await ready_agent_git(dest, branch)
    return dest


async def ready_agent_git(workspace: Path, branch: str, excluded: Sequence[str] = (), remote: Path | None = None) -> None:
    """The agent's `.git` as Orchard makes it, whatever the last agent left: HEAD on `branch` at
    Orchard's commit, Orchard's index (so its `git status` is as quick), config (identity; `remote`
    as its origin), alternates, and `excluded` paths (the loop's state files) left out. The rest of
    what an agent keeps there (other branches, a stash) stays. Orchard's new objects (a snapshot)
    go to the store both borrow first, so the agent's git sees that commit."""
    await asyncio.to_thread(_ready_agent_git, workspace, branch, excluded, remote)


def _ready_agent_git(workspace: Path, branch: str, excluded: Sequence[str], remote: Path | None) -> None:
    own = git_dir_of(workspace)
    move_loose_objects(own, _borrowed(own))
    config = (own / "config").read_text()
    if remote is not None:
        config += f'[remote "origin"]\n\turl = {remote}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
    with opened_dir(workspace) as root:
        dot_git = folder_beneath(root, ".git")
        try:
            for name in ("index.lock", "HEAD.lock", "config.lock", "commondir"):
                remove_beneath(dot_git, name)
            write_beneath(dot_git, "config", config.encode())
            write_beneath(dot_git, "index", (own / "index").read_bytes())
            for shared in own.glob("sharedindex.*"):  # the base's, seen through the overlay; or one Orchard's git wrote since
                if kind_beneath(dot_git, shared.name) != "file":
                    write_beneath(dot_git, shared.name, shared.read_bytes())
            write_beneath(dot_git, "HEAD", f"ref: refs/heads/{branch}\n".encode())
        finally:
            os.close(dot_git)
    write_path(workspace, f".git/refs/heads/{branch}", f"{orchard_head(workspace)}\n".encode())
    point_alternates(workspace, None)
    write_path(workspace, ".git/info/exclude", "".join(f"/{path}\n" for path in excluded).encode())


def _borrowed(own: Path) -> Path:
    """The store Orchard's git directory `own` borrows: the repository's."""
    return Path((own / "objects" / "info" / "alternates").read_text().strip())


def point_alternates(workspace: Path, objects: str | None, mend: bool = True) -> None:
    """The agent's `.git` borrows the objects at `objects` (as a container sees them), or (None)
    at the store Orchard's own git directory borrows. `mend`: as write_path's."""
    path = objects or str(_borrowed(git_dir_of(workspace)))
    write_path(workspace, ".git/objects/info/alternates", f"{path}\n".encode(), mend)


async def take_work(workspace: Path, leftovers: str | None = None) -> str:
    """The commit the agent's HEAD is at, taken into Orchard's git directory (its objects verified)
    with Orchard's HEAD and index moved there; and with `leftovers`, what it left uncommitted
    committed on top with that message. WorkspaceTampered, with nothing taken, when its `.git` is
    out of place (a link, a forged object, a HEAD that names nothing)."""
    own = git_dir_of(workspace)
    before = orchard_head(workspace)
    try:
        head = read_ref(workspace / ".git")
        if head is None:
            raise Untrusted("HEAD names no commit")
        if head == before:
            await check_store(workspace / ".git")  # nothing is taken from it, but what is out of place is said
        else:
            kinds = await take_objects(workspace / ".git", own, [_borrowed(own)])
            if kinds.get(head, "") != "commit" and await git("cat-file", "-t", head, cwd=own, check=False) != "commit":
                raise Untrusted(f"HEAD names {head[:12]}, which is no commit of the agent's")
    except Untrusted as e:
        raise WorkspaceTampered(f"the agent left its workspace's git out of place ({e}); nothing of its work was taken") from None
    if leftovers is None:  # the agent's commit as it is: no index to move
        (own / "HEAD").write_text(f"{head}\n")
        return head
    if head != before:
        await wgit(workspace, "reset", "--quiet", "--no-refresh", head)
    if await commit_leftovers(workspace, leftovers, (before, head)):
        return await wgit(workspace, "rev-parse", "HEAD")
    return head


async def commit_leftovers(workspace: Path, message: str, moved: tuple[str, str]) -> bool:
    """Commit on top of Orchard's HEAD what the workspace's tree holds beyond it (changed, deleted
    and new files, as `git add -A` takes them); whether there was any. In an overlay workspace git
    looks at the paths written in it only (and those the agent's commits changed: `moved`, from
    where Orchard's index was to its HEAD now), so this costs the same whatever the tree's size (a
    full `git status` of 20,000 files through an overlay: 60 ms)."""
    paths = await asyncio.to_thread(written_paths, workspace)
    if paths is not None and moved[0] != moved[1]:
        names = await git_bytes("diff-tree", "-r", "-z", "--name-only", "--no-renames", *moved, cwd=git_dir_of(workspace))
        paths += [name for name in os.fsdecode(names).split("\0") if name]
    if paths is None:
        changed = bool(await wgit(workspace, "status", "--porcelain"))
        if changed:
            await wgit(workspace, "add", "-A")
    else:
        asked = paths
        listed = _status_paths(os.fsdecode(await git_bytes("--literal-pathspecs", "status", "--porcelain", "-z", "--", *asked, cwd=workspace,
                                                           git_dir=git_dir_of(workspace)))) if asked else []
        changed = bool(listed)
        if listed:  # named by status, so no ignored path is named to add (that fails)
            addable = dict.fromkeys(_short_of_links(workspace, path) for path in listed)
            await wgit(workspace, "--literal-pathspecs", "add", "-A", "--", *addable)
    # After an add, what the index holds against HEAD says whether there is a change (a file removed and written back is none).
    left = changed and bool(await wgit(workspace, "diff-index", "--cached", "--name-only", "HEAD"))
    if left:
        await wgit(workspace, "commit", "--quiet", "--no-verify", "-m", message)
    return left


def _short_of_links(workspace: Path, path: str) -> str:
    """`path`, or the symbolic link among its folders that it now lies beyond: git refuses to add a
    path beyond a link (`a/1.txt` once the agent made the folder `a` a link), and adding the link
    stages it and removes what the index held under it."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        if os.path.islink(workspace / folder):
            return folder
    return path


def _status_paths(porcelain_z: str) -> list[str]:
    """The paths `git status --porcelain -z` names (a rename's both)."""
    fields, paths = porcelain_z.split("\0"), []
    while fields:
        entry = fields.pop(0)
        if len(entry) > 3:
            paths.append(entry[3:])
            if entry[0] in "RC" and fields:
                paths.append(fields.pop(0))
    return paths


async def remove_workspace(path: Path) -> None:
    """Remove a workspace (an overlay: unmounted, and only what was written in it deleted), and
    its run's folder once it is the last one."""
    if is_overlay(path):
        await unmount_workspace(path)
    for folder in (path, git_dir_of(path), gateway_of(path)):
        await remove_tree(folder)
    if path.parent.is_dir():
        with _run_folder_lock(path.parent), contextlib.suppress(OSError):
            path.parent.rmdir()


async def remove_tree(folder: Path) -> None:
    """Remove `folder` and what it holds, if it is there: an empty one (an agent's home or /tmp after a
    no-op agent) at once, anything more on a thread (a tree may be large)."""
    try:
        folder.rmdir()
        return
    except FileNotFoundError:
        return
    except OSError:  # not empty, or not a folder
        pass
    if folder.exists() or folder.is_symlink():
        await asyncio.to_thread(shutil.rmtree, folder, True)


@contextlib.contextmanager
def _run_folder_lock(run_folder: Path) -> Iterator[None]:
    """Held (by any task of any worker on the host) while a workspace's folder is made in its run's
    folder, and while the run's folder is removed as empty: so removing the last workspace never
    takes the folder from under a sibling that is being prepared. Held for a mkdir or an rmdir."""
    run_folder.parent.mkdir(parents=True, exist_ok=True)
    with (run_folder.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
