"""A loop's (or a pipeline's) one workspace, kept across iterations (or steps) on its host.

Iteration 1 (or the first iteration on a new host) checks the loop's branch out; later ones find
the workspace where the last finished iteration left it and pay no checkout. An interrupted
iteration's half-done work is discarded: its retry resets the workspace to the last finished
iteration's commit. A marker in Orchard's git directory for the workspace (never in the agent's
`.git`) says which commit the last finished iteration left it at. An iteration paused at a
provider's limit writes the marker at its own start, so its next try keeps the half-done work
for the agent's resumed session. A pipeline's steps and agent
phases keep their workspace the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from activities.git.command import rev_parse
from activities.git.workspace import git_dir_of, prepare_workspace, wgit
from activities.paths import workspaces_dir
from workflows.sdk.models import key_hash8

MARKER = "orchard-loop.json"
LOCAL_BRANCH = "orchard-loop"


def loop_workspace(run_id: str, loop_key: str) -> Path:
    """Where the run's loop (or pipeline) with this key keeps its workspace on a host."""
    return workspaces_dir(run_id) / f"loop-k{key_hash8(loop_key)}"


def _marker(workspace: Path) -> Path:
    return git_dir_of(workspace) / MARKER


def finished_at(workspace: Path) -> str | None:
    """The commit the last finished iteration left the workspace at, if it is intact."""
    try:
        commit = json.loads(_marker(workspace).read_text())["commit"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return commit if isinstance(commit, str) else None


def mark_finished(workspace: Path, commit: str) -> None:
    _marker(workspace).write_text(json.dumps({"commit": commit}))


async def ready_workspace(repo: str, workspace: Path, start_commit: str, excluded: list[str], owner: int | None = None) -> str:
    """The workspace at `start_commit`, as cheaply as its state allows; says what it did. `owner`:
    whose a workspace made now is (prepare_workspace). The agent's `.git` is made ready by the
    caller (activities.git.workspace.ready_agent_git), once it knows the workspace's origin."""
    own = git_dir_of(workspace)
    if finished_at(workspace) == start_commit:
        _marker(workspace).unlink()  # written again when this iteration finishes: a retry of it resets
        how = "kept"
    elif (own / "HEAD").is_file() and workspace.is_dir() and await rev_parse(own, start_commit):
        # An interrupted try of this iteration: discard what it did (ignored files, caches, stay).
        _marker(workspace).unlink(missing_ok=True)
        await wgit(workspace, "reset", "--quiet", "--hard", start_commit)
        await wgit(workspace, "clean", "-ffdq")
        how = "reset"
    else:  # the first iteration, or the first on this host
        await prepare_workspace(repo, start_commit, workspace, LOCAL_BRANCH, owner)
        # The fresh checkout's index makes every `git status` re-read each file (0.3 s, not 0.06 s,
        # at 20,000 files on tmpfs) until one rewrites it, and the snapshot's status never writes:
        # refresh it once, here.
        await wgit(workspace, "update-index", "-q", "--refresh", check=False)
        how = "checked out"
    (own / "info" / "exclude").write_text("".join(f"/{path}\n" for path in excluded))
    return how
