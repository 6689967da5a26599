"""Removing an instance's workspace after its result is recorded, off the run's critical path.

Unmounting an overlay and deleting what its agent wrote took 0.2-1.1 s per instance on a loaded
host with a 20,000-file tree (the kernel frees every inode the overlay cached), and the run waited
for the slowest before its next step. Once an instance's result is recorded, nothing of the run
needs its workspace any more (a retry returns the recorded result without touching it), so the
activity returns and the removal goes on in the worker's event loop.

It is still certain to happen: a record in `$ORCHARD_HOME/removing/` names the folders and the
worker removing them before the activity returns; a worker's stop waits for its removals
(`settled`), and a worker that died with removals under way leaves records the next worker on the
host finishes at its start (`sweep_removals`). A removal's record goes only once it is done.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pydantic import BaseModel, ValidationError

from activities.git.workspace import remove_workspace
from activities.ownership import OwnedProcess, this_process
from activities.paths import orchard_home

log = logging.getLogger(__name__)


class PendingRemoval(BaseModel):
    """Folders a worker is removing (workspaces, an agent's home), so another finishes if it dies."""

    worker: OwnedProcess
    paths: list[str]


def removals_dir() -> Path:
    return orchard_home() / "removing"


_pending: dict[str, asyncio.Task[None]] = {}
"""This process's removals under way, by the first folder each removes."""


def remove_later(name: str, *paths: Path) -> None:
    """Remove `paths` (remove_workspace's) after this returns, recorded first as `name`'s (unique on the host)."""
    record = removals_dir() / f"{name}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(PendingRemoval(worker=this_process(), paths=[str(p) for p in paths]).model_dump_json())
    task = asyncio.get_running_loop().create_task(_remove(record, [str(p) for p in paths]))
    key = str(paths[0])
    _pending[key] = task
    task.add_done_callback(lambda done: _pending.pop(key) if _pending.get(key) is done else None)


async def removed(path: Path) -> None:
    """Until a removal of `path` under way in this process is done: before the folder is made again
    (a retry that could not return its recorded result, its branch deleted meanwhile)."""
    task = _pending.get(str(path))
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


async def _remove(record: Path, paths: list[str]) -> None:
    try:
        for path in paths:
            await remove_workspace(Path(path))
    except Exception:  # the record stays: the next worker's sweep tries again
        log.exception("removing %s failed; the next worker on this host tries again", ", ".join(paths))
        return
    record.unlink(missing_ok=True)


async def settled() -> None:
    """Until the removals this event loop started are done (a worker's stop; a test's check)."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _pending.values() if task.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)


async def sweep_removals() -> int:
    """Finish the removals of workers that died before they were done (a worker's start); how many."""
    swept = 0
    folder = removals_dir()
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            pending = PendingRemoval.model_validate_json(record.read_text())
        except (OSError, ValidationError):
            record.unlink(missing_ok=True)
            continue
        if pending.worker.running():
            continue
        await _remove(record, pending.paths)
        swept += 1
    return swept
