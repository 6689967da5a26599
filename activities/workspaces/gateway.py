"""The `origin` of a pipeline's workspace: a bare repository beside it that borrows the user's
objects and shows their branches as they are when a step or agent starts. A command or an agent
may fetch from it and push to it; afterwards the branches pushed are applied to the user's
repository if the pipeline publishes them (compare-and-swap against what the gateway showed) and
refused otherwise, and a branch checked out in the user's working tree is never moved.

What was pushed there is the agent's: the gateway is made anew before each step or agent (no git
runs in what one left), its branches are read with no link followed and its objects taken through
Orchard's git directory for the workspace, verified (activities/git/intake.py).

On a remote (activities/git/origin.py) the gateway shows the remote's branches as they are now,
borrowing the objects of this host's mirror (fetched when it lacks one), and what is published is
pushed there in one atomic push, each branch with a lease against what the gateway showed."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from activities.git.command import ZERO_OID, GitError, git, git_bytes
from activities.git.intake import take_objects
from activities.git.objects import move_loose_objects, objects_dir
from activities.git.origin import LOST_RACE, Origin, refresh_mirror
from activities.git.untrusted import Untrusted, branches
from activities.git.workspace import gateway_of, git_dir_of


async def _branches(repo: str | Path) -> dict[str, str]:
    listed = await git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", cwd=repo)
    return dict(line.split(" ", 1) for line in listed.splitlines() if line)


def _make_gateway(gateway: Path, objects: Path, shown: dict[str, str]) -> None:
    """A bare repository at `gateway` (whatever was there goes) showing `shown`'s branches."""
    if gateway.is_symlink() or gateway.is_file():
        gateway.unlink()
    elif gateway.exists():
        shutil.rmtree(gateway)
    for folder in ("objects/info", "refs/heads", "refs/tags"):
        (gateway / folder).mkdir(parents=True)
    (gateway / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    (gateway / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = true\n[gc]\n\tauto = 0\n")
    (gateway / "HEAD").write_text("ref: refs/heads/main\n")
    # Sorted, as git's packed-refs must be to be searched.
    lines = "".join(f"{sha} {ref}\n" for ref, sha in sorted(shown.items(), key=lambda item: item[0].encode()))
    (gateway / "packed-refs").write_text(f"# pack-refs with: peeled fully-peeled sorted \n{lines}")


async def _remote_branches(origin: Origin) -> dict[str, str]:
    """The remote's branches as it has them now, every commit readable in this host's mirror."""
    listed = await git("ls-remote", "--heads", "--", origin.repo, cwd=origin.read)
    heads = {ref: sha for sha, _, ref in (line.partition("\t") for line in listed.splitlines() if line)}
    if heads:
        asked = "".join(f"{sha}\n" for sha in heads.values()).encode()
        found = await git_bytes("cat-file", "--batch-check", cwd=origin.read, input=asked)
        missing = [line.split()[0] for line in found.decode().splitlines() if line.endswith(" missing")]
        if missing:
            await refresh_mirror(origin.repo, *missing)
    return heads


async def open_gateway(origin: Origin, workspace: Path) -> tuple[Path, dict[str, str]]:
    """The workspace's `origin`, made anew showing the user's branches (or the remote's) as they are now; and those branches."""
    gateway = gateway_of(workspace)
    theirs = await _remote_branches(origin) if origin.remote else await _branches(origin.read)
    await asyncio.to_thread(_make_gateway, gateway, await objects_dir(origin.read), theirs)
    return gateway, theirs


async def _checked_out(repo: str) -> str | None:
    """The branch checked out in the user's working tree (None: bare, or a detached HEAD)."""
    if await git("rev-parse", "--is-bare-repository", cwd=repo) == "true":
        return None
    head = await git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False)
    return head or None


@dataclass(frozen=True)
class Published:
    branches: dict[str, str] = field(default_factory=dict)
    """The user's branches moved, by name, and where to."""
    before: dict[str, str] = field(default_factory=dict)
    """Where each was before (the zero id: made)."""
    refused: str | None = None
    """Why what was pushed was not applied."""


async def publish_pushed(origin: Origin, label: str, allowed: list[str], workspace: Path, shown: dict[str, str]) -> Published:
    """Apply what `label` (a step, an agent) pushed to the gateway of `workspace` to the user's
    repository (or push it to the remote), if `allowed` has every branch it pushed; else say why not."""
    repo = origin.repo
    gateway = gateway_of(workspace)
    try:
        now = await asyncio.to_thread(branches, gateway)
    except Untrusted as e:
        return Published(refused=f"{label} left the pipeline's origin out of place ({e}); nothing it pushed was applied")
    pushed = {ref: sha for ref, sha in now.items() if shown.get(ref) != sha} | {ref: ZERO_OID for ref in shown if ref not in now}
    if not pushed:
        return Published()
    names = {ref.removeprefix("refs/heads/"): ref for ref in pushed}
    foreign = sorted(name for name in names if name not in allowed)
    if foreign:
        publish = ", ".join(allowed) or "nothing"
        return Published(refused=f"{label} pushed {', '.join(foreign)}, which the pipeline does not publish (publish = [{publish}]); "
                                 "nothing it pushed was applied")
    checked_out = None if origin.remote else await _checked_out(repo)
    if checked_out in pushed:
        name = checked_out.removeprefix("refs/heads/")
        return Published(refused=f"{label} pushed {name}, which is checked out in {repo}: Orchard never moves a branch under your working tree; "
                                 f"switch that checkout to another branch (or publish to a bare repository)")
    own, store = git_dir_of(workspace), await objects_dir(origin.read)
    try:
        await take_objects(gateway, own, [store])
    except Untrusted as e:
        return Published(refused=f"{label} pushed objects Orchard refuses ({e}); nothing it pushed was applied")
    if origin.remote:
        refused = await _push(origin, own, pushed, shown, label, list(names))
        if refused:
            return Published(refused=refused)
        return Published({name: pushed[ref] for name, ref in names.items()}, {name: shown.get(ref, ZERO_OID) for name, ref in names.items()})
    move_loose_objects(own, store)
    script = "".join(f"update {ref} {sha} {shown.get(ref, ZERO_OID)}\n" for ref, sha in pushed.items())
    try:
        await git_bytes("update-ref", "--stdin", cwd=repo, input=f"start\n{script}commit\n".encode())
    except GitError as e:
        if "nonexistent object" in e.stderr or "non-commit object" in e.stderr:
            return Published(refused=f"{label} pushed {', '.join(names)} at an object it did not push; nothing was applied")
        them = "it" if len(names) == 1 else "them"
        return Published(refused=f"{label} pushed {', '.join(names)}, but someone moved {them} in {repo} meanwhile; nothing was applied")
    return Published({name: pushed[ref] for name, ref in names.items()}, {name: shown.get(ref, ZERO_OID) for name, ref in names.items()})


async def _push(origin: Origin, own: Path, pushed: dict[str, str], shown: dict[str, str], label: str, names: list[str]) -> str | None:
    """`pushed` (ref: commit, the zero id to delete) pushed to the remote at once, each with a lease
    against what the gateway showed; then this host's mirror says the same. Why not, if it was not."""
    leases = [f"--force-with-lease={ref}:{shown.get(ref, '')}" for ref in pushed]
    specs = [f":{ref}" if sha == ZERO_OID else f"{sha}:{ref}" for ref, sha in pushed.items()]
    try:
        await git("push", "--quiet", "--no-verify", "--atomic", *leases, "--", origin.repo, *specs, cwd=own)
    except GitError as e:
        them = "it" if len(names) == 1 else "them"
        if any(lost in e.stderr for lost in LOST_RACE) or "atomic push failed" in e.stderr:
            return f"{label} pushed {', '.join(names)}, but someone moved {them} on {origin.repo} meanwhile; nothing was applied"
        if "[remote rejected]" in e.stderr:
            return f"{label} pushed {', '.join(names)}, which {origin.repo} refused ({e.stderr.strip().splitlines()[-1]}); nothing was applied"
        raise
    move_loose_objects(own, await objects_dir(origin.read))
    script = "".join(f"delete {ref}\n" if sha == ZERO_OID else f"update {ref} {sha}\n" for ref, sha in pushed.items())
    await git_bytes("update-ref", "--stdin", cwd=origin.read, input=script.encode())
    return None
