"""Running one check command (`pytest -q`, a loop's verification level, `ci`) in a workspace: its
output to a log, its pass or fail, and the end of what it said. A best-of-n verification and a
loop's levels run their commands this way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.runners.local import run_process
from activities.secrets import redact

OUTPUT_TAIL = 2000


@dataclass
class Check:
    passed: bool
    exit_code: int | None
    """None when the command timed out and was killed."""
    output_tail: str
    duration_seconds: float


async def run_check(command: str, cwd: Path, log: Path, record_path: Path, timeout: float) -> Check:
    """`bash -c command` in `cwd` until it exits or `timeout` passes; `record_path` records it while
    it runs, so a new worker can stop it if this one dies (its workspace, `cwd`, goes with it then)."""
    log.write_text(f"$ {command}\n")
    outcome = await run_process(
        AgentCommand(argv=["bash", "-c", command]), cwd=cwd, timeout=timeout, on_line=lambda line: None,
        transcript=log, record_path=record_path, leftovers=[cwd],
    )
    return Check(
        passed=outcome.exit_code == 0 and not outcome.timed_out,
        exit_code=None if outcome.timed_out else outcome.exit_code,
        output_tail=redact(log.read_text()[-OUTPUT_TAIL:]) or "",
        duration_seconds=round(outcome.duration_seconds, 3),
    )
