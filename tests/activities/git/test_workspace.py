"""Workspaces: siblings in one run's folder come and go concurrently without tripping each other."""

from __future__ import annotations

import asyncio

from activities.git.command import rev_parse
from activities.git.workspace import prepare_workspace, remove_workspace


async def test_a_workspace_removed_while_a_sibling_is_prepared_leaves_the_sibling_whole(repo, tmp_path, orchard_home):
    base = await rev_parse(repo, "HEAD")
    run = tmp_path / "workspaces" / "run_1"
    preparing = True

    async def prepare_many() -> None:
        nonlocal preparing
        try:
            for i in range(25):
                workspace = await prepare_workspace(repo, base, run / f"k{i}", f"orchard/k{i}")
                assert (workspace / ".git").is_dir() and await rev_parse(workspace, "HEAD") == base
                await remove_workspace(workspace)
        finally:
            preparing = False

    async def a_sibling_leaves_again_and_again() -> None:
        while preparing:
            await remove_workspace(run / "gone")  # the run's folder goes with the last workspace in it
            await asyncio.sleep(0)

    await asyncio.gather(prepare_many(), a_sibling_leaves_again_and_again())
    assert not run.exists()
