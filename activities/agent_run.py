"""Running an agent in a prepared workspace, with its plugin and runner (local, sandbox or docker), and
what its run means as an InstanceResult. An instance (activities/instance.py) runs one agent in a
fresh workspace; a loop iteration (activities/loops/iteration.py) runs one in the loop's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.exceptions import ApplicationError

from activities.agents import PluginError
from activities.agents.base import AgentContext, AgentPlugin, AgentState, with_agent_env
from activities.git.objects import objects_dir
from activities.runners.local import ProcessOutcome, run_process
from activities.runners.site import AgentSite
from activities.secrets import redact
from workflows.sdk.models import InstanceResult, TaskSpec, truncate

SESSION_MISSING = "No conversation found with session ID"
"""What Claude Code says when asked to resume a session it never saved."""

RESUME_PROMPT = (
    "Your previous run on this task was interrupted. Continue where you left off, "
    "finish the task, and commit your work."
)
"""What a resumed session is told (after a retry or a pause at a provider's limit)."""


def bad_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="BadInput", non_retryable=True)


@dataclass
class AgentPlace:
    """Where an agent runs and what it is: the workspace, its private home, its results folder."""

    repo: str
    run_id: str
    key: str
    workspace: Path
    agent_home: Path
    out_dir: Path
    base_commit: str
    record_path: Path
    """Its running record (activities/runners/local.py), so a retry or a new worker can stop it."""


async def run_agent(
    plugin: AgentPlugin, task: TaskSpec, place: AgentPlace, state: AgentState, session_id: str | None, on_phase: Callable[[str], None],
    runner: str, stop_at_limit: bool = False, stop: asyncio.Event | None = None,
) -> ProcessOutcome:
    """Run the agent to its end (or timeout) in `place` on `runner` (choose_runner's, asked once per
    activity: the workspace was made for it); `state` fills from its stream as it goes. With
    `stop_at_limit` (an instance, which pauses at a provider's limit) the agent is stopped as soon
    as it hits one, or once `stop` is set (its credentials paused by another run); else it goes
    on as it would (its CLI retrying)."""
    in_container, sandboxed = runner == "docker", runner == "sandbox"
    if in_container:  # the Docker SDK is imported by a worker that runs containers only
        from activities.runners.docker import ImageMissing
        from activities.runners.docker.runner import AGENT_HOME, WORKSPACE, run_in_container
    try:
        command = with_agent_env(plugin.build_command(
            task,
            AgentContext(
                workspace=WORKSPACE if in_container else place.workspace,
                run_id=place.run_id, key=place.key, base_commit=place.base_commit, session_id=session_id,
                agent_home=AGENT_HOME if in_container else place.agent_home, host_agent_home=place.agent_home,
                in_container=in_container, sandboxed=sandboxed,
            ),
        ), task)
    except PluginError as e:
        raise bad_input(str(e)) from None
    on_phase("agent running" + (" in a container" if in_container else " in a sandbox" if sandboxed else ""))
    limited = stop or asyncio.Event()

    def on_line(line: str) -> None:
        plugin.parse_line(line, state)
        if stop_at_limit and state.limit is not None:
            limited.set()

    transcript = place.out_dir / "transcript.log"
    leftovers = [place.workspace, place.agent_home]
    if in_container or sandboxed:
        site = AgentSite(
            workspace=place.workspace, agent_home=place.agent_home, objects=await objects_dir(place.repo), forward_env=list(plugin.forward_env),
            endpoints=plugin.endpoints(task), on_line=on_line, transcript=transcript, record_path=place.record_path, leftovers=leftovers,
        )
    if in_container:
        try:
            outcome = await _until_limited(run_in_container(command, task, site, run_id=place.run_id, key=place.key), limited)
        except (ImageMissing, ValueError) as e:
            raise bad_input(str(e)) from None
    elif sandboxed:
        from activities.runners.sandbox import SandboxUnavailable
        from activities.runners.sandbox.runner import run_in_sandbox

        try:
            outcome = await _until_limited(run_in_sandbox(command, task, site), limited)
        except (SandboxUnavailable, ValueError) as e:
            raise bad_input(str(e)) from None
    else:
        outcome = await _until_limited(run_process(
            command, cwd=place.workspace, timeout=task.timeout, on_line=on_line, transcript=transcript, record_path=place.record_path,
            leftovers=leftovers,
        ), limited)
    plugin.finish(state, outcome.exit_code, outcome.stderr_tail)
    return outcome


async def _until_limited(running: Awaitable[ProcessOutcome], limited: asyncio.Event) -> ProcessOutcome:
    """The agent's outcome; stopped at once (as a cancel stops it) when it hits a provider's
    limit: left alone it would retry into the limit, and the pause is the run's to take."""
    agent = asyncio.ensure_future(running)
    stop = asyncio.ensure_future(limited.wait())
    try:
        await asyncio.wait({agent, stop}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        agent.cancel()  # and wait for the runner to stop the agent (its container, its sandbox) before this cancel goes on
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await agent
        raise
    finally:
        stop.cancel()
    if agent.done():
        return agent.result()
    agent.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await agent
    return ProcessOutcome(exit_code=-15, timed_out=False, stderr_tail="", duration_seconds=0.0)


def agent_result(task: TaskSpec, place: AgentPlace, state: AgentState, outcome: ProcessOutcome, runner: str, pause_at_limit: bool = False) -> InstanceResult:
    """The agent's run as a result: usage, final message (whole in a file, truncated here), and
    `failed`/`timeout` when it failed; `success` is left for the caller to settle (after its import).
    With `pause_at_limit`, an agent stopped at a provider's limit is `error_type` quota: its caller pauses."""
    result = InstanceResult(
        success=False,
        key=place.key,
        base_commit=place.base_commit,
        session_id=state.session_id,
        input_tokens=state.input_tokens,
        output_tokens=state.output_tokens,
        cost_usd=state.cost_usd,
        cost_estimated=state.cost_estimated,
        plugin=task.plugin,
        model=task.model,
        artifacts_dir=str(place.out_dir),
        metrics={"exit_code": outcome.exit_code, "num_turns": state.num_turns},
        runner=runner,
    )
    final_message = redact(state.final_message)
    if final_message is not None:
        (place.out_dir / "final_message.md").write_text(final_message)
        result.final_message = truncate(final_message)
        result.final_message_path = str(place.out_dir / "final_message.md")
    if pause_at_limit and state.limit is not None:
        result.status, result.error_type, result.error = "failed", "quota", redact(state.limit.message)
    elif outcome.timed_out:
        result.status, result.error_type = "timeout", "timeout"
        result.error = f"agent timed out after {task.timeout:g}s and was killed"
    elif state.error:
        result.status, result.error_type, result.error = "failed", "agent", redact(state.error)
    return result
