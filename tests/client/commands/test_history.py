"""`orchard history RUN`: a run's Temporal event history as JSON, on stdout or into a file that is
not overwritten unless asked."""

from __future__ import annotations

import json
from pathlib import Path

from tests.client.commands.conftest import Orchard
from tests.conftest import final_result, start_scripted
from tests.scripted import Script


async def test_history_prints_the_run_s_events_or_writes_them_to_a_file(orchard: Orchard, client, scripted_queue, tmp_path: Path):
    handle = await start_scripted(client, scripted_queue, "simple", Script())
    await final_result(handle)
    said = await orchard("history", handle.id)
    events = json.loads(said.out)["events"]
    assert said.code == 0 and said.err == ""
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" and events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] == "simple"

    out = tmp_path / "history.json"
    said = await orchard("history", handle.id, "-o", str(out))
    assert (said.code, said.out, said.err) == (0, "", f"wrote {len(events)} events of {handle.id} to {out}\n")
    assert json.loads(out.read_text())["events"] == events
    out.write_text("mine")
    said = await orchard("history", handle.id, "-o", str(out))
    assert (said.code, said.err) == (2, f"orchard: {out} exists; choose another file or pass --force\n") and out.read_text() == "mine"
    said = await orchard("history", handle.id, "-o", str(out), "--force")
    assert said.code == 0 and json.loads(out.read_text())["events"] == events


async def test_history_of_no_such_run_is_one_line_exit_2(orchard: Orchard, named_server: str):
    said = await orchard("history", "run_nosuch")
    assert said.code == 2 and said.out == "" and said.err.startswith(f"orchard: no run 'run_nosuch' on {named_server} (") and said.err.count("\n") == 1
