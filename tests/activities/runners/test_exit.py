"""An agent's exit is noticed as soon as its output closes (it exited), and also when a background
child it left keeps its output open: then by looking at it every 20 ms."""

from __future__ import annotations

import time

from activities.agents.base import AgentCommand
from activities.runners.local import run_process


async def _run(tmp_path, script: str) -> tuple[int, float, list[str]]:
    lines: list[str] = []
    started = time.monotonic()
    outcome = await run_process(AgentCommand(argv=["bash", "-c", script]), cwd=tmp_path, timeout=30, on_line=lines.append,
                                transcript=tmp_path / "transcript.jsonl", record_path=tmp_path / "running.json")
    return outcome.exit_code, time.monotonic() - started, lines


async def test_an_agent_that_exits_is_done_at_once(tmp_path):
    code, took, lines = await _run(tmp_path, "echo done; exit 3")
    assert code == 3 and lines == ["done"] and took < 2


async def test_an_agent_whose_background_child_holds_its_output_is_done_when_it_exits(tmp_path):
    code, took, _ = await _run(tmp_path, "sleep 20 & echo started")
    assert code == 0 and took < 5  # not the child's 20 s (which is killed with the agent's group)
