"""The `origin` of a pipeline's workspace: a bare repository beside it that borrows the user's
objects and shows their branches as they are when a step or agent starts. A command or an agent
may fetch from it and push to it; afterwards the branches pushed are applied to the user's
repository if the pipeline publishes them (compare-and-swap against what the gateway showed) and
refused otherwise, and a branch checked out in the user's working tree is never moved."""

from __future__ import annotations

from pathlib import Path

from activities.git.command import ZERO_OID, GitError, fetch_objects, git, git_bytes
from activities.git.objects import move_loose_objects
from activities.git.workspace import objects_dir


async def _branches(repo: str | Path) -> dict[str, str]:
    listed = await git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", cwd=repo)
    return dict(line.split(" ", 1) for line in listed.splitlines() if line)


async def open_gateway(repo: str, workspace: Path) -> tuple[Path, dict[str, str]]:
    """The workspace's `origin`, showing the user's branches as they are now; and those branches."""
    gateway = workspace.parent / f"{workspace.name}-origin.git"
    if not (gateway / "HEAD").is_file():
        await git("init", "--quiet", "--bare", str(gateway), cwd=workspace.parent)
        (gateway / "objects" / "info" / "alternates").write_text(f"{await objects_dir(repo)}\n")
        await git("remote", "remove", "origin", cwd=workspace, check=False)
        await git("remote", "add", "origin", str(gateway), cwd=workspace)
    theirs = await _branches(repo)
    ours = await _branches(gateway)
    lines = [f"delete {ref}\n" for ref in ours if ref not in theirs] + [f"update {ref} {sha}\n" for ref, sha in theirs.items() if ours.get(ref) != sha]
    if lines:
        await git_bytes("update-ref", "--stdin", cwd=gateway, input="".join(lines).encode())
    return gateway, theirs


async def _checked_out(repo: str) -> str | None:
    """The branch checked out in the user's working tree (None: bare, or a detached HEAD)."""
    if await git("rev-parse", "--is-bare-repository", cwd=repo) == "true":
        return None
    head = await git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False)
    return head or None


async def publish_pushed(repo: str, label: str, allowed: list[str], gateway: Path, shown: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Apply what `label` (a step, an agent) pushed to the gateway to the user's repository, if
    `allowed` has every branch it pushed; else say why not. The branches it applied, by name."""
    now = await _branches(gateway)
    pushed = {ref: sha for ref, sha in now.items() if shown.get(ref) != sha} | {ref: ZERO_OID for ref in shown if ref not in now}
    if not pushed:
        return {}, None
    names = {ref.removeprefix("refs/heads/"): ref for ref in pushed}
    foreign = sorted(name for name in names if name not in allowed)
    if foreign:
        allowed = ", ".join(allowed) or "nothing"
        return {}, f"{label} pushed {', '.join(foreign)}, which the pipeline does not publish (publish = [{allowed}]); nothing it pushed was applied"
    checked_out = await _checked_out(repo)
    if checked_out in pushed:
        name = checked_out.removeprefix("refs/heads/")
        return {}, (f"{label} pushed {name}, which is checked out in {repo}: Orchard never moves a branch under your working tree; "
                    f"switch that checkout to another branch (or publish to a bare repository)")
    if not move_loose_objects(gateway, await objects_dir(repo)):
        await fetch_objects(repo, gateway, *(s for s in pushed.values() if s != ZERO_OID))
    script = "".join(f"update {ref} {sha} {shown.get(ref, ZERO_OID)}\n" for ref, sha in pushed.items())
    try:
        await git_bytes("update-ref", "--stdin", cwd=repo, input=f"start\n{script}commit\n".encode())
    except GitError:
        return {}, f"{label} pushed {', '.join(names)}, but someone moved {'it' if len(names) == 1 else 'them'} in {repo} meanwhile; nothing was applied"
    return {name: pushed[ref] for name, ref in names.items()}, None
