"""Running an agent process and reading its output; the `local` runner's way of stopping it.

The local runner is not isolated: the agent is a process (group) in the workspace.

Every process the agent starts inherits a tag in its environment; on timeout, on cancellation
and when the agent exits, the process group and every tagged process are killed. Tools that
start their own session (Claude Code's Bash tool does) or outlive their parent are caught too.
The tag is written to a pid file so a retried attempt can stop an agent orphaned by a worker
that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.secrets import redact

KILL_GRACE_SECONDS = 3.0
LINE_LIMIT = 64 * 1024 * 1024


@dataclass
class ProcessOutcome:
    exit_code: int
    timed_out: bool
    stderr_tail: str
    duration_seconds: float


TAG_VARIABLE = "ORCHARD_AGENT_TAG"


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tagged_processes(tag: str) -> list[int]:
    """Processes whose environment carries this agent's tag."""
    marker = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def kill_tagged(tag: str, sig: int = signal.SIGKILL) -> None:
    for pid in tagged_processes(tag):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_agent(pgid: int, tag: str, sig: int = signal.SIGKILL) -> None:
    kill_group(pgid, sig)
    kill_tagged(tag, sig)


def pipe_holders(inodes: set[int]) -> list[int]:
    """Processes that hold one of these pipes open: the agent's descendants holding its output,
    provably, even after they left its session and cleared its environment (a double-forked daemon).
    The worker's own children are not among them: one forked for another instance holds every pipe
    of the worker for the instant before it runs its program."""
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if any(os.readlink(fd) in wanted for fd in (entry / "fd").iterdir()):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent != os.getpid():
                    found.append(int(entry.name))
    return found


def _pipe_inode(stream: asyncio.StreamReader | None) -> int | None:
    """The inode of the pipe a stream reads; None once it is closed (every writer closed it: no
    process holds it any more)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return os.fstat(stream._transport.get_extra_info("pipe").fileno()).st_ino  # type: ignore[union-attr]
    return None


async def exit_of(proc: asyncio.subprocess.Process) -> int:
    """The process's own exit. asyncio's `wait()` also waits until every pipe closes, which never
    happens while a background child (`npm run dev &`) holds the agent's stdout."""
    delay = 0.002
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return proc.returncode


def kill_orphan(pid_file: Path) -> None:
    """Kill an agent left running by a worker that died, as recorded in pid_file. Only processes
    carrying the agent's tag are signalled (and its process group, when its leader carries the
    tag): the pid alone may belong to another process by now."""
    try:
        pgid_text, tag = pid_file.read_text().split()
        pgid = int(pgid_text)
    except (OSError, ValueError):
        return
    if pgid in tagged_processes(tag) and pgid != os.getpgid(0):
        kill_group(pgid)
    kill_tagged(tag)
    pid_file.unlink(missing_ok=True)


async def run_process(
    command: AgentCommand,
    cwd: Path,
    timeout: float,
    on_line: Callable[[str], None],
    transcript: Path,
    pid_file: Path,
    also_kill: Callable[[], Awaitable[None]] | None = None,
) -> ProcessOutcome:
    """Run `command`, feeding its stdout lines to `on_line` and the transcript, until it exits or
    `timeout` passes (then SIGTERM, a grace period, SIGKILL to its group and tagged processes).
    `also_kill` ends what the process started outside them (the docker runner's container)."""
    started = time.monotonic()
    tag = uuid.uuid4().hex
    proc = await asyncio.create_subprocess_exec(
        *command.argv,
        cwd=str(cwd),
        env={**os.environ, **command.env, TAG_VARIABLE: tag},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=LINE_LIMIT,
    )
    pid_file.write_text(f"{proc.pid} {tag}")
    stderr_tail: deque[str] = deque(maxlen=50)
    output_pipes = {inode for inode in (_pipe_inode(proc.stdout), _pipe_inode(proc.stderr)) if inode is not None}

    async def kill() -> None:
        kill_agent(proc.pid, tag)
        if also_kill is not None:
            await also_kill()

    async def feed_stdin() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if command.stdin:
                proc.stdin.write(command.stdin.encode())
                await proc.stdin.drain()
            proc.stdin.close()

    async def read_stdout(out) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            out.write((redact(line) or "") + "\n")
            out.flush()
            on_line(line)

    async def read_stderr(out) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = redact(raw.decode(errors="replace").rstrip("\n")) or ""
            out.write(f"[stderr] {line}\n")
            stderr_tail.append(line)

    timed_out = False
    with transcript.open("a") as out:
        readers = asyncio.gather(feed_stdin(), read_stdout(out), read_stderr(out))
        try:
            await asyncio.wait_for(exit_of(proc), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            kill_agent(proc.pid, tag, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exit_of(proc), KILL_GRACE_SECONDS)
            await kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exit_of(proc), KILL_GRACE_SECONDS)
        except asyncio.CancelledError:
            # Cancelled means stop now: no grace period, which a second cancel could cut short.
            await asyncio.shield(kill())
            readers.cancel()
            raise
        finally:
            pid_file.unlink(missing_ok=True)
        # When the agent itself has exited, the instance ends: what it left running goes with it
        # (its group, its tagged processes, and whatever still holds its output pipes), and the
        # output read so far is kept.
        kill_agent(proc.pid, tag)
        for pid in pipe_holders(output_pipes):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(readers, KILL_GRACE_SECONDS)
    return ProcessOutcome(
        exit_code=proc.returncode if proc.returncode is not None else -9,
        timed_out=timed_out,
        stderr_tail="\n".join(stderr_tail),
        duration_seconds=time.monotonic() - started,
    )
