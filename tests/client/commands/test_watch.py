"""`orchard watch RUN`: follows a run until it ends and exits with the run's exit code."""

from __future__ import annotations

import asyncio
import json

from tests.client.commands.conftest import Orchard
from tests.conftest import start_scripted
from tests.scripted import Script, until


async def test_watch_follows_a_running_run_to_its_end_and_exits_with_its_code(orchard: Orchard, client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"simple": hold})
    handle = await start_scripted(client, scripted_queue, "simple", script)
    await until(lambda: script.calls)
    watching = asyncio.create_task(orchard("watch", handle.id, "--output", "json"))
    await until(lambda: '"status": "running"' in orchard.printed(), timeout=30)  # the watch follows the running run
    hold.set()
    said = await watching
    assert said.code == 0, said.err
    events = [json.loads(line) for line in said.lines]
    assert (events[0]["type"], events[0]["key"], events[0]["status"]) == ("instance", "simple", "running")
    assert all((e["type"], e["key"]) == ("instance", "simple") for e in events[:-1])
    assert (events[-1]["type"], events[-1]["status"], events[-1]["instances"][0]["branch_name"]) == ("result", "success", script.calls[0].branch)


async def test_watch_of_an_ended_run_says_how_it_ended_with_that_exit_code(orchard: Orchard, client, scripted_queue):
    failed = await start_scripted(client, scripted_queue, "best-of-n", Script(failures={".*": "the agent gave up"}), params={"n": 1})
    canceled = await start_scripted(client, scripted_queue, "simple", script := Script(holds={"simple": asyncio.Event()}))
    await until(lambda: script.calls)
    await canceled.cancel()
    for handle, code, status in ((failed, 1, "failed"), (canceled, 4, "canceled")):
        said = await orchard("watch", handle.id, "--output", "streaming")
        assert said.code == code, said.err
        assert said.lines[0] == f"{'best-of-n' if handle is failed else 'simple'} run {handle.id}"
        assert said.lines[-1].startswith(f"run {handle.id}: {status}")


async def test_watch_of_no_such_run_is_one_line_exit_2(orchard: Orchard, named_server: str):
    said = await orchard("watch", "run_nosuch")
    assert said.code == 2 and said.out == "" and said.err.count("\n") == 1
    assert said.err.startswith(f"orchard: no run 'run_nosuch' on {named_server} (") and said.err.endswith("; see `orchard list`\n")
