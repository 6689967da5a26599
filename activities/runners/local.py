"""Running an agent process and reading its output; the `local` runner's way of stopping it.

The local runner is not isolated: the agent is a process (group) in the workspace.

Every process the agent starts inherits a tag in its environment; on timeout, on cancellation
and when the agent exits, the process group and every tagged process are killed. Tools that
start their own session (Claude Code's Bash tool does) or outlive their parent are caught too.
The tag is recorded (with the worker's identity) under $ORCHARD_HOME/running/, so a retried
attempt, and a new worker at its start (activities/orphans.py), can stop an agent orphaned by a
worker that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.agents.base import AgentCommand
from activities.ownership import OwnedProcess, this_process
from activities.runners.transcript import Transcript
from activities.secrets import redact, secret_values

KILL_GRACE_SECONDS = 3.0
LINE_LIMIT = 64 * 1024 * 1024
READ_CHUNK = 64 * 1024


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


def left_running(tag: str, inodes: set[int], may_descend: Callable[[int], bool] = lambda pid: True) -> list[int]:
    """What an agent that exited left running, in one pass over /proc: processes carrying its tag,
    and processes holding one of its output pipes open (its descendants, provably, even after they
    left its session and cleared its environment: a double-forked daemon). The worker's own
    children are not among the pipe holders: one forked for another instance holds every pipe of
    the worker for the instant before it runs its program. Only the pids `may_descend` admits are
    looked at (born_after: reading every process's environment and open files cost an instance
    of a no-op agent 5-15 ms of the worker's CPU on a host running 150 processes)."""
    marker = f"{TAG_VARIABLE}={tag}".encode()
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me or not may_descend(int(name)):
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if marker in Path(f"/proc/{name}/environ").read_bytes().split(b"\0") or _holds_and_not_mine(name, wanted, me):
                found.append(int(name))
    return found


def _holds_and_not_mine(name: str, pipes: set[str], me: int) -> bool:
    """Process `name` holds one of `pipes` open and is not a child of this process (`me`)."""
    return (bool(pipes) and any(os.readlink(f"/proc/{name}/fd/{fd}") in pipes for fd in os.listdir(f"/proc/{name}/fd"))
            and int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1]) != me)


FORKS_PER_SECOND = 100_000
"""More processes than a host starts in a second (a fork and exit cost 10 µs or more of a core, and
pids are handed out under one lock): bounds how far pids can have gone round."""


def born_after(pid: int, seconds: float) -> Callable[[int], bool]:
    """Which pids can belong to processes started since `pid` was, `seconds` ago: the kernel hands
    pids out in order (from ns_last_pid, going round at pid_max), so those after `pid` up to the
    last one handed out, unless so long has passed that they may have gone round past `pid`
    (then every pid: nothing is known)."""
    try:
        last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return lambda other: True
    if seconds * FORKS_PER_SECOND >= pid_max - 300:  # pids below 300 are not handed out again
        return lambda other: True
    if last >= pid:
        return lambda other: pid < other <= last
    return lambda other: other > pid or other <= last  # gone round once since


def _pipe_inode(stream: asyncio.StreamReader | None) -> int | None:
    """The inode of the pipe a stream reads; None once it is closed (every writer closed it: no
    process holds it any more)."""
    # The stream's transport is asyncio's own attribute, which typeshed leaves out; None once closed.
    transport: asyncio.BaseTransport | None = getattr(stream, "_transport", None)
    if transport is None:
        return None
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return os.fstat(transport.get_extra_info("pipe").fileno()).st_ino
    return None


async def lines_of(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines (without their newline), read in chunks: StreamReader's own readline
    moves its whole buffer for every line, which made reading a loud agent quadratic (24 MB of
    output took 40 s). A line longer than LINE_LIMIT is cut there."""
    pieces: list[bytes] = []
    size = 0
    while chunk := await stream.read(READ_CHUNK):
        lines = chunk.split(b"\n")
        for line in lines[:-1]:
            yield b"".join([*pieces, line]) if pieces else line
            pieces, size = [], 0
        if lines[-1]:
            pieces.append(lines[-1])
            size += len(lines[-1])
            if size >= LINE_LIMIT:
                yield b"".join(pieces)
                pieces, size = [], 0
    if pieces:
        yield b"".join(pieces)


async def exit_of(proc: asyncio.subprocess.Process, output_closed: asyncio.Future[Any] | None = None) -> int:
    """The process's own exit. asyncio's `wait()` also waits until every pipe closes, which never
    happens while a background child (`npm run dev &`) holds the agent's stdout. Looked at every
    2 ms for the first 0.2 s (a quick command, a loop's no-op agent, is not kept waiting), then
    less often, up to every 50 ms; with `output_closed` (its pipes' readers), at once when they
    end, as a process's do when it exits, and every 20 ms until then (not 2 ms: a fan-out's
    instances run tens at once, each woken every 2 ms for nothing)."""
    started = time.monotonic()
    delay = 0.002
    while proc.returncode is None:
        if output_closed is not None and not output_closed.done():
            await asyncio.wait([output_closed], timeout=0.02)
            continue
        await asyncio.sleep(delay)
        if time.monotonic() - started > 0.2:
            delay = min(delay * 2, 0.05)
    return proc.returncode


class ActivityAttempt(BaseModel):
    """The activity attempt a process runs for, so a new worker can end the attempt of a dead one."""

    workflow_id: str
    workflow_run_id: str
    activity_id: str
    attempt: int
    task_token: str  # hex

    @classmethod
    def current(cls) -> ActivityAttempt | None:
        if not activity.in_activity():
            return None
        info = activity.info()
        return cls(
            workflow_id=info.workflow_id or "", workflow_run_id=info.workflow_run_id or "", activity_id=info.activity_id,
            attempt=info.attempt, task_token=info.task_token.hex(),
        )


class RunningRecord(BaseModel):
    """What Orchard records of a process it runs for an agent or a verification command (or of
    the container it runs an agent in: then no process group or tag, the container's name)."""

    pgid: int | None = None
    tag: str | None = None
    worker: OwnedProcess
    container: str | None = None
    attempt: ActivityAttempt | None = None
    leftovers: list[str] = []
    """Folders the attempt works in (its workspace), removed when it ends without a retry to use them."""
    relay: str | None = None
    """The docker runner's model relay folder (in the temporary directory): no retry uses it."""


class OutputReader:
    """An agent's output as it comes: stdout lines to `on_line` and the transcript, stderr lines
    to the transcript and a tail kept for the result; secrets redacted in what is kept."""

    def __init__(self, out: Transcript, on_line: Callable[[str], None]):
        self.out, self.on_line = out, on_line
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self.secrets = secret_values()

    async def stdout(self, stream: asyncio.StreamReader) -> None:
        async for raw in lines_of(stream):
            line = raw.decode(errors="replace")
            self.out.write(redact(line, self.secrets) or "")
            self.on_line(line)

    async def stderr(self, stream: asyncio.StreamReader) -> None:
        async for raw in lines_of(stream):
            line = redact(raw.decode(errors="replace"), self.secrets) or ""
            self.out.write(f"[stderr] {line}")
            self.stderr_tail.append(line)


async def run_process(
    command: AgentCommand,
    cwd: Path,
    timeout: float,
    on_line: Callable[[str], None],
    transcript: Path,
    record_path: Path,
    leftovers: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    on_start: Callable[[int], Awaitable[None]] | None = None,
    contained: bool = False,
) -> ProcessOutcome:
    """Run `command`, feeding its stdout lines to `on_line` and the transcript, until it exits or
    `timeout` passes (then SIGTERM, a grace period, SIGKILL to its group and tagged processes).
    `record_path` records it for as long as it runs, with the `leftovers` it works in. The sandbox
    runner (activities/runners/sandbox/) runs its `bwrap` through here with an environment of its
    own (`environ`, default the worker's), `pass_fds`, `on_start(pid)` awaited once it started,
    and `contained`: the command's processes all live in a PID namespace of their own, which the
    kernel has emptied by the time the command's exit is reported, so none is looked for after it."""
    started = time.monotonic()
    tag = uuid.uuid4().hex
    proc = await asyncio.create_subprocess_exec(
        *command.argv,
        cwd=str(cwd),
        env={**(os.environ if environ is None else environ), **command.env, TAG_VARIABLE: tag},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record = RunningRecord(pgid=proc.pid, tag=tag, worker=this_process(), attempt=ActivityAttempt.current(), leftovers=[str(p) for p in leftovers])
    record_path.write_text(record.model_dump_json())
    if on_start is not None:
        try:
            await on_start(proc.pid)
        except BaseException:
            kill_agent(proc.pid, tag)
            record_path.unlink(missing_ok=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(exit_of(proc), KILL_GRACE_SECONDS)
            raise
    output_pipes = {inode for inode in (_pipe_inode(proc.stdout), _pipe_inode(proc.stderr)) if inode is not None}

    async def feed_stdin() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if command.stdin:
                proc.stdin.write(command.stdin.encode())
                await proc.stdin.drain()
            proc.stdin.close()

    timed_out = False
    assert proc.stdout is not None and proc.stderr is not None
    with Transcript(transcript) as out:
        output = OutputReader(out, on_line)
        readers = asyncio.gather(feed_stdin(), output.stdout(proc.stdout), output.stderr(proc.stderr))
        try:
            await asyncio.wait_for(exit_of(proc, readers), timeout)
        except TimeoutError:
            timed_out = True
            kill_agent(proc.pid, tag, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exit_of(proc), KILL_GRACE_SECONDS)
            kill_agent(proc.pid, tag)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exit_of(proc), KILL_GRACE_SECONDS)
        except asyncio.CancelledError:
            # Cancelled means stop now: no grace period, which a second cancel could cut short.
            kill_agent(proc.pid, tag)
            readers.cancel()
            readers.add_done_callback(lambda done: done.cancelled() or done.exception())  # read, so asyncio does not log it
            raise
        finally:
            record_path.unlink(missing_ok=True)
        # When the agent itself has exited, the instance ends: what it left running goes with it
        # (its group, its tagged processes, and whatever still holds its output pipes), and the
        # output read so far is kept.
        kill_group(proc.pid)
        for pid in [] if contained and not timed_out else left_running(tag, output_pipes, born_after(proc.pid, time.monotonic() - started)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(readers, KILL_GRACE_SECONDS)
    return ProcessOutcome(
        exit_code=proc.returncode if proc.returncode is not None else -9,
        timed_out=timed_out,
        stderr_tail="\n".join(output.stderr_tail),
        duration_seconds=time.monotonic() - started,
    )
