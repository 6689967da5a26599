"""A workspace removed after its instance's result is recorded: off the run's path, still certain."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.instance import run_instance
from activities.ownership import this_process
from activities.paths import workspaces_dir
from activities.workspaces.removals import PendingRemoval, removals_dir, remove_later, settled, sweep_removals
from tests.activities.test_instance import instance


async def test_an_instance_returns_before_its_workspace_is_removed_and_the_removal_is_recorded_until_done(repo, orchard_home):
    result = await ActivityEnvironment().run(run_instance, instance(repo))
    assert result.success and result.branch_name
    records = list(removals_dir().glob("*.json"))
    assert len(records) == 1  # recorded before the activity returned, with this worker as the one removing
    pending = PendingRemoval.model_validate_json(records[0].read_text())
    assert pending.worker == this_process() and Path(pending.paths[0]).parent == workspaces_dir("run_t1")
    await settled()
    assert not workspaces_dir("run_t1").exists() and not list(removals_dir().glob("*.json"))


async def test_the_next_worker_finishes_what_a_dead_one_left_to_remove_and_leaves_a_live_ones(orchard_home):
    dead_ws, live_ws = workspaces_dir("run_dead") / "k1", workspaces_dir("run_live") / "k1"
    for ws in (dead_ws, live_ws):
        (ws / "written").mkdir(parents=True)
    dead = this_process().model_copy(update={"start_ticks": this_process().start_ticks + 1})  # the pid, now another process's
    removals_dir().mkdir(parents=True)
    (removals_dir() / "run_dead.k1.json").write_text(PendingRemoval(worker=dead, paths=[str(dead_ws)]).model_dump_json())
    (removals_dir() / "run_live.k1.json").write_text(PendingRemoval(worker=this_process(), paths=[str(live_ws)]).model_dump_json())
    (removals_dir() / "torn.json").write_text("{")  # a record cut short: nothing to go on

    assert await sweep_removals() == 1
    assert not workspaces_dir("run_dead").exists() and live_ws.is_dir()  # a live worker's removal is its own
    assert sorted(p.name for p in removals_dir().iterdir()) == ["run_live.k1.json"]


async def test_a_removal_that_fails_keeps_its_record_for_the_next_worker(orchard_home, monkeypatch):
    import activities.workspaces.removals as removals

    async def refused(path: Path) -> None:
        raise OSError("busy")

    monkeypatch.setattr(removals, "remove_workspace", refused)
    ws = workspaces_dir("run_busy") / "k1"
    ws.mkdir(parents=True)
    remove_later("run_busy.k1", ws)
    await settled()
    assert ws.is_dir() and [p.name for p in removals_dir().iterdir()] == ["run_busy.k1.json"]
