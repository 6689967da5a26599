"""Sandboxes made while other instances' overlay workspaces are mounted and removed beside them (a
fan-out on the same host, workspaces removed in the background after a result): bubblewrap must make
each at its first attempt. It failed with `Can't bind mount /oldroot/ on /newroot/: ... remount
"/newroot/.../k...": No such file or directory` while it bound the host's whole mount tree."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.runners.sandbox.mounts import bwrap_argv
from activities.runners.sandbox.runner import plan_for, private_tmp
from tests.conftest import require_sandbox
from workflows.sdk.models import TaskSpec

pytestmark = pytest.mark.slow

STARTS = 60
"""Sandboxes made under the churn: with the whole tree bound, about one in five failed here."""
LIVE = 16
"""Sibling workspaces mounted at any moment."""
MNT_DETACH = 2


@contextlib.contextmanager
def sibling_workspaces_churning(folder: Path) -> Iterator[list[int]]:
    """Overlay workspaces in `folder`, each made (a folder, an overlay mount on it) and later removed
    (unmounted, its folder deleted, as a workspace's removal does), LIVE at a time, on a thread
    until the block ends; yields a list that holds how many were made by then."""
    libc = ctypes.CDLL(None, use_errno=True)
    lower = folder / "lower"
    lower.mkdir(parents=True)
    (lower / "README.md").write_text("# sibling\n")
    made, stop, live = [0], threading.Event(), []

    def churn() -> None:
        while not stop.is_set():
            n = made[0]
            mount_point, layers = folder / f"k{n:08d}", folder / f".k{n:08d}"
            mount_point.mkdir()
            (layers / "upper").mkdir(parents=True)
            (layers / "work").mkdir()
            options = f"lowerdir={lower},upperdir={layers / 'upper'},workdir={layers / 'work'}"
            if libc.mount(b"overlay", os.fsencode(mount_point), b"overlay", 0, options.encode()) != 0:
                raise OSError(ctypes.get_errno(), "overlay mount", str(mount_point))
            live.append((mount_point, layers))
            made[0] += 1
            while len(live) > LIVE or (stop.is_set() and live):
                gone, its_layers = live.pop(0)
                libc.umount2(os.fsencode(gone), MNT_DETACH)
                gone.rmdir()
                shutil.rmtree(its_layers)

    thread = threading.Thread(target=churn, name="sibling-workspaces", daemon=True)
    thread.start()
    try:
        yield made
    finally:
        stop.set()
        thread.join()


def test_sandboxes_start_while_sibling_workspaces_are_mounted_and_removed(orchard_home, tmp_path):
    require_sandbox()
    if os.geteuid() != 0:
        pytest.skip("mounting the siblings' overlays needs root")
    workspace, agent_home = orchard_home / "workspaces" / "run_churn" / "k00000001", orchard_home / "agent-homes" / "run_churn" / "k00000001"
    objects = tmp_path / "repo" / ".git" / "objects"
    for folder in (workspace, agent_home, private_tmp(agent_home), objects):
        folder.mkdir(parents=True)
    task = TaskSpec(prompt="p", base_branch="main", agent_command="true", runner="sandbox", network_egress="offline")
    plan = plan_for(task, "true", workspace=workspace, agent_home=agent_home, objects=objects, relayed_hosts=[])
    bwrap, *flags = bwrap_argv(plan)
    argv = [shutil.which(bwrap) or bwrap, *flags, "--", "true"]
    failed: list[str] = []
    with sibling_workspaces_churning(orchard_home / "workspaces" / "run_sibling") as made:
        while made[0] < LIVE:  # the siblings are there before the first sandbox
            threading.Event().wait(0.01)
        for _ in range(STARTS):
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                failed.append(done.stderr.strip())
        churned = made[0]
    assert churned > STARTS // 2, f"the siblings churned too slowly to race with anything ({churned} made)"
    assert failed == [], f"{len(failed)} of {STARTS} sandboxes were not made: {failed[:3]}"
