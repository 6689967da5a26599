"""`orchard replay HISTORY|RUN`: a recorded history replayed against the strategy code as it is now,
exit 1 with where the code diverges; no server is needed for a history file."""

from __future__ import annotations

from pathlib import Path

from tests.client.commands.conftest import Orchard
from tests.conftest import ROOT, final_result, start_scripted
from tests.scripted import Script

HISTORIES = ROOT / "tests" / "histories"
CHANGED = ROOT / "tests" / "strategy_files" / "best_of_n_changed.py"


async def test_a_recorded_history_replays_and_an_edit_that_changes_its_decisions_is_named(orchard: Orchard):
    said = await orchard("replay", str(HISTORIES / "best-of-n.json"), address=False)
    assert said.code == 0 and said.err == ""
    assert said.out.startswith("replayed ") and said.out.endswith(" events of best-of-n (best-of-n): deterministic\n")
    said = await orchard("replay", str(HISTORIES / "best-of-n.json"), "--strategy", str(CHANGED), address=False)
    assert said.code == 1 and said.out == "" and said.err.count("\n") == 1
    assert said.err.startswith("orchard: nondeterminism: the edited code starts instance warmup where the history has instance candidate/1")


async def test_a_run_on_the_server_replays_by_its_id(orchard: Orchard, client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "best-of-n", Script(), params={"n": 2})
    await final_result(handle)
    said = await orchard("replay", handle.id)
    assert said.code == 0 and said.out.startswith("replayed ") and said.out.endswith(f" events of {handle.id} (best-of-n): deterministic\n"), said.err


async def test_what_is_not_a_history_is_one_line_exit_2(orchard: Orchard, tmp_path: Path):
    notes = tmp_path / "notes.json"
    notes.write_text('{"hello": 1}')
    said = await orchard("replay", str(notes), address=False)
    assert (said.code, said.out, said.err) == (2, "", "orchard: not a Temporal history JSON (export one with `orchard history RUN -o FILE`)\n")
