"""Running one check command (`pytest -q`, a loop's verification level, `ci`, generated tests) in
a workspace: its output to a log, its pass or fail, and the end of what it said.

A check runs code an agent wrote, so it runs as an agent does where it can: in the sandbox
runner's sandbox (activities/runners/sandbox/), the checkout writable, a home and /tmp of its own,
the run's network egress, nothing else of the host's writable and no home or ORCHARD_HOME in
sight. Only a run whose agents were asked to run locally (`--runner local`: the user trusts them)
or a host without a working sandbox runs it as a plain local process, and then its log says so.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.runners.local import ProcessOutcome, run_process
from activities.runners.sandbox import sandbox_problem
from activities.runners.sandbox.runner import run_in_sandbox
from activities.runners.site import AgentSite
from activities.secrets import redact
from workflows.sdk.models import NetworkEgress, TaskSpec

OUTPUT_TAIL = 2000


@dataclass
class Check:
    passed: bool
    exit_code: int | None
    """None when the command timed out and was killed."""
    output_tail: str
    duration_seconds: float


@dataclass(frozen=True)
class Isolation:
    """How a check is kept from the host: the runner the run's agents were asked for ("local" runs
    it as a local process), the objects its checkout's git reads (shown read-only), a home of its
    own (made and removed here) and the run's network egress."""

    runner: str
    objects: Path
    home: Path
    egress: NetworkEgress = "online"

    def problem(self) -> str | None:
        """Why the check runs as a local process (None: in a sandbox)."""
        if self.runner == "local":
            return "the run's agents run locally (--runner local)"
        return sandbox_problem(self.egress)


async def run_check(command: str, cwd: Path, log: Path, record_path: Path, timeout: float, isolation: Isolation | None) -> Check:
    """`bash -c command` in `cwd` until it exits or `timeout` passes, sandboxed as `isolation` says
    (None: a local process, for commands of the user's own that run no agent's code);
    `record_path` records it while it runs, so a new worker can stop it if this one dies (its
    workspace, `cwd`, goes with it then)."""
    problem = isolation.problem() if isolation is not None else None
    log.write_text(f"$ {command}\n" + (f"(not sandboxed: {problem})\n" if isolation is not None and problem else ""))
    argv = AgentCommand(argv=["bash", "-c", command])
    if isolation is None or problem is not None:
        outcome = await run_process(argv, cwd=cwd, timeout=timeout, on_line=_ignore, transcript=log, record_path=record_path, leftovers=[cwd])
    else:
        outcome = await _sandboxed(argv, cwd, log, record_path, timeout, isolation)
    return Check(
        passed=outcome.exit_code == 0 and not outcome.timed_out,
        exit_code=None if outcome.timed_out else outcome.exit_code,
        output_tail=redact(log.read_text()[-OUTPUT_TAIL:]) or "",
        duration_seconds=round(outcome.duration_seconds, 3),
    )


async def _sandboxed(command: AgentCommand, cwd: Path, log: Path, record_path: Path, timeout: float, isolation: Isolation) -> ProcessOutcome:
    task = TaskSpec(prompt="", base_branch="", runner="sandbox", network_egress=isolation.egress, timeout=timeout, plugin="command", agent_command="bash")
    site = AgentSite(workspace=cwd, agent_home=isolation.home, objects=isolation.objects, forward_env=[], endpoints=[], on_line=_ignore,
                     transcript=log, record_path=record_path, leftovers=[cwd])
    try:
        return await run_in_sandbox(command, task, site)
    finally:
        await asyncio.to_thread(shutil.rmtree, isolation.home, True)


def _ignore(line: str) -> None:
    pass
