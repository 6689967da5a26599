"""`orchard clean [RUN]`: remove what runs that are over left on this host.

Containers (found by their labels: this ORCHARD_HOME's only), workspaces and agent homes of runs
that are no longer open, base checkouts no workspace has used for their grace, and the checkouts
a queue's commands ran in on a remote (`$ORCHARD_HOME/checkouts/`) that no open run uses.
Results (transcripts, final messages) and branches are the user's and stay.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.git.overlay import bases_dir, sweep_bases
from activities.git.workspace import remove_workspace
from activities.paths import orchard_home
from activities.runners.docker.engine import orchard_containers, remove_container
from activities.runners.docker.status import engine_problem
from activities.workspaces.checkout import sweep_checkouts
from client.errors import EXIT_SUCCESS, UsageError
from client.runs import target_for


@dataclass
class Cleaned:
    containers: list[str] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    docker_note: str | None = None
    bases: int = 0
    """Base checkouts whose grace had passed with no workspace."""
    checkouts: list[Path] = field(default_factory=list)
    """Checkouts a queue's commands ran in on a remote, which no open run uses."""

    def summary(self) -> str:
        if not self.containers and not self.folders and not self.bases and not self.checkouts:
            return "nothing to clean" + (f" ({self.docker_note})" if self.docker_note else "")
        parts = [f"removed {len(self.containers)} container(s)", f"{len(self.folders)} folder(s)"] + ([f"{self.bases} base checkout(s)"] if self.bases else [])
        parts += [f"{len(self.checkouts)} queue checkout(s)"] if self.checkouts else []
        lines = [", ".join(parts)] + [f"  container {c}" for c in self.containers] + [f"  {f}" for f in [*self.folders, *self.checkouts]]
        if self.docker_note:
            lines.append(f"  (containers not checked: {self.docker_note})")
        return "\n".join(lines)


def run_folders(run_id: str | None) -> dict[str, list[Path]]:
    """Workspace and agent-home folders on this host, by run id."""
    found: dict[str, list[Path]] = {}
    for kind in ("workspaces", "agent-homes"):
        base = orchard_home() / kind
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            if folder.is_dir() and (run_id is None or folder.name == run_id):
                found.setdefault(folder.name, []).append(folder)
    return found


async def clean(run_id: str | None, open_run_ids: set[str], listed_at: float | None = None) -> Cleaned:
    """Remove leftovers of `run_id` (or of every run not in `open_run_ids`, the runs open at
    `listed_at`: what a run began using since is kept too)."""
    cleaned = Cleaned()
    cleaned.docker_note = await engine_problem()
    if cleaned.docker_note is None:
        for name, owner in await orchard_containers(str(orchard_home()), run_id):
            if owner not in open_run_ids:
                await remove_container(name)
                cleaned.containers.append(name)
    for owner, folders in run_folders(run_id).items():
        if owner not in open_run_ids:
            for folder in folders:
                for workspace in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
                    await remove_workspace(workspace)  # an overlay is unmounted, not emptied through its mount
                shutil.rmtree(folder, ignore_errors=True)
                cleaned.folders.append(folder)
    if run_id is None and bases_dir().is_dir():
        cleaned.bases = await sweep_bases(adopt=False)
    if run_id is None:  # shared by the runs of a remote's branch: never one run's alone
        cleaned.checkouts = await sweep_checkouts(open_run_ids, time.time() if listed_at is None else listed_at)
    return cleaned


async def _left_on_this_host(run_id: str) -> bool:
    """Whether a workspace, agent home or container of `run_id` is on this host."""
    if run_folders(run_id):
        return True
    return await engine_problem() is None and bool(await orchard_containers(str(orchard_home()), run_id))


async def cmd_clean(args: argparse.Namespace) -> int:
    listed_at = time.time()  # before the open runs are listed: what a run uses from then on is kept
    target = await target_for(args.address, args.namespace, args.config)
    if args.run_id:
        try:
            running = (await target.client.get_workflow_handle(args.run_id).describe()).status == WorkflowExecutionStatus.RUNNING
        except RPCError as e:
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise
            if not await _left_on_this_host(args.run_id):  # a mistyped id, as `orchard show` says of it
                raise UsageError(f"no run {args.run_id!r} on {target.address} ({str(e).splitlines()[0]}), "
                                 "nor anything of it here; see `orchard list`") from None
            running = False  # Temporal no longer knows it (retention): its leftovers can go
        if running:
            raise UsageError(f"run {args.run_id} is still running; cancel it first (orchard cancel {args.run_id})")
        open_ids: set[str] = set()
    else:
        open_ids = {w.id async for w in target.client.list_workflows('ExecutionStatus="Running"')}
    print((await clean(args.run_id, open_ids, listed_at)).summary())
    return EXIT_SUCCESS
