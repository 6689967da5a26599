"""`orchard loop stop|nudge|extend RUN`: a person steers a running loop; what the loop cannot take
is refused in one line and changes nothing."""

from __future__ import annotations

import asyncio
import getpass

from tests.client.commands.conftest import Orchard
from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until


async def test_a_person_nudges_extends_and_stops_a_running_loop(orchard: Orchard, client, scripted_queue):
    first, last = asyncio.Event(), asyncio.Event()
    script = Script(steps=[{"hold": first}, {}, {"hold": last}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 1})
    await until(lambda: script.iterations)
    said = await orchard("loop", "nudge", handle.id, "prefer the standard library")
    assert (said.code, said.out, said.err) == (0, f"run {handle.id}: added to iteration 2's prompt\n", "")
    said = await orchard("loop", "extend", handle.id, "5")
    assert (said.code, said.out) == (0, f"run {handle.id}: the loop may run 5 more iterations (0 done)\n")
    first.set()
    await until(lambda: len(script.iterations) == 3)
    assert "A person steering this loop adds: prefer the standard library" in script.iterations[1].task.prompt
    said = await orchard("loop", "stop", handle.id)
    assert (said.code, said.out) == (0, f"run {handle.id}: the loop stops after iteration 3\n")
    said = await orchard("loop", "stop", handle.id)
    assert (said.code, said.out, said.err) == (2, "", f"orchard: loop stop refused: the loop was already asked to stop (by {getpass.getuser()})\n")
    last.set()
    result = await final_result(handle)
    assert result.status == "stopped" and len(result.instances[0].loop.trail) == 3  # past its maximum of 1, and no further
    said = await orchard("watch", handle.id, "--output", "quiet")
    assert said.code == 5  # stopped by a person before its verification passed: its own exit code


async def test_steering_a_loop_cannot_take_is_refused_in_one_line(orchard: Orchard, client, scripted_queue):
    hold = asyncio.Event()
    script = Script(steps=[{"hold": hold}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 2})
    await until(lambda: script.iterations)
    for argv, says in ((["extend", handle.id, "0"], "loop extend refused: extend by 1 or more iterations (got 0)"),
                       (["nudge", handle.id, "  "], 'loop nudge refused: a nudge needs text: orchard loop nudge RUN "TEXT"')):
        said = await orchard("loop", *argv)
        assert (said.code, said.out, said.err) == (2, "", f"orchard: {says}\n")
    hold.set()
    await final_result(handle)
    said = await orchard("loop", "stop", handle.id)
    assert (said.code, said.err) == (2, f"orchard: run {handle.id} is failed; it waits for no steering\n")  # ran out of iterations unverified


async def test_a_run_that_is_not_a_loop_takes_no_steering(orchard: Orchard, client, scripted_queue):
    hold = asyncio.Event()
    handle = await start_scripted(client, scripted_queue, "best-of-n", script := Script(holds={"candidate/1": hold}), params={"n": 1})
    await until(lambda: script.calls)
    said = await orchard("loop", "stop", handle.id)
    assert (said.code, said.err) == (2, "orchard: loop stop refused: a best-of-n run cannot be steered (`stop` is for loop runs)\n")
    hold.set()
    await final_result(handle)
