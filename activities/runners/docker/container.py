"""One agent's container through the Docker SDK: created, attached, started, its output streamed,
waited for, and removed; killed on timeout or cancel. Nothing runs on the host but the worker: the
engine runs the container, and the worker reads its output from the attach stream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from activities.ownership import this_process
from activities.runners.docker import DockerError
from activities.runners.docker.engine import call, engine, remove_container
from activities.runners.local import KILL_GRACE_SECONDS, LINE_LIMIT, ActivityAttempt, OutputReader, ProcessOutcome, RunningRecord
from activities.runners.transcript import Transcript
from activities.timeline import mark

FRAME_HEADER = struct.Struct(">BxxxL")
"""A frame of a non-TTY attach stream: its stream (1 stdout, 2 stderr) and payload size."""
ATTACH = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
NAME_TAKEN = "is already in use"
"""The engine's answer (409) to a create whose container name another container has."""


async def _demux(reader: asyncio.StreamReader, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader) -> None:
    """Split the attach stream into the container's stdout and stderr, until it ends."""
    try:
        while True:
            header = await reader.readexactly(FRAME_HEADER.size)
            kind, size = FRAME_HEADER.unpack(header)
            payload = await reader.readexactly(size)
            (stderr if kind == 2 else stdout).feed_data(payload)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        stdout.feed_eof()
        stderr.feed_eof()


def _raw_socket(attached: Any) -> socket.socket:
    """The socket under what the SDK's attach returns (a SocketIO over a unix socket, or a socket)."""
    raw: socket.socket = getattr(attached, "_sock", attached)
    raw.setblocking(False)
    return raw


async def run_container(
    name: str,
    image: str,
    argv: list[str],
    options: dict[str, Any],
    stdin: str | None,
    timeout: float,
    on_line: Callable[[str], None],
    transcript: Path,
    record_path: Path,
    leftovers: Sequence[Path] = (),
    relay: Path | None = None,
) -> ProcessOutcome:
    """Run `argv` in a new container `name` of `image` (created with `options`: the hardening),
    `stdin` on its standard input, its output to `on_line` and the transcript, until it exits or
    `timeout` passes (then SIGTERM, a grace period, SIGKILL). Recorded at `record_path` while it
    runs, so a worker that dies leaves nothing a new one cannot remove."""
    started = time.monotonic()
    api = (await call(engine)).api
    mark("activity: container create")
    try:
        created = await call(api.create_container, image, argv, name=name, stdin_open=True, tty=False, **options)  # stdin_open: attached, closed at its EOF
    except DockerError as e:
        if NAME_TAKEN not in str(e):
            raise
        await remove_container(name)  # left by a worker that died during an earlier attempt, before it wrote its record
        created = await call(api.create_container, image, argv, name=name, stdin_open=True, tty=False, **options)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record = RunningRecord(worker=this_process(), container=name, attempt=ActivityAttempt.current(), leftovers=[str(p) for p in leftovers],
                           relay=str(relay) if relay else None)
    record_path.write_text(record.model_dump_json())
    mark("activity: container created")
    timed_out = False
    try:
        attached = await call(api.attach_socket, created["Id"], params=ATTACH)  # before the start: no output is missed
        await call(api.start, created["Id"])
        mark("activity: container started")
        reader, writer = await asyncio.open_connection(sock=_raw_socket(attached), limit=LINE_LIMIT)
        stdout, stderr = asyncio.StreamReader(limit=LINE_LIMIT), asyncio.StreamReader(limit=LINE_LIMIT)
        with Transcript(transcript) as out:
            output = OutputReader(out, on_line)

            async def feed_stdin() -> None:
                with contextlib.suppress(ConnectionError):
                    if stdin:
                        writer.write(stdin.encode())
                        await writer.drain()
                    writer.write_eof()  # stdin_once: the container's stdin closes

            streams = asyncio.gather(feed_stdin(), _demux(reader, stdout, stderr), output.stdout(stdout), output.stderr(stderr))
            try:
                await asyncio.wait_for(asyncio.shield(streams), timeout)
            except TimeoutError:
                timed_out = True
                with contextlib.suppress(DockerError):
                    await call(api.kill, created["Id"], signal=signal.SIGTERM)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(streams), KILL_GRACE_SECONDS)
                with contextlib.suppress(DockerError):
                    await call(api.kill, created["Id"])
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(streams, KILL_GRACE_SECONDS)
            finally:
                writer.close()
        exited = await call(api.wait, created["Id"], timeout=KILL_GRACE_SECONDS * 4)
        exit_code = int(exited.get("StatusCode", -9))
    except asyncio.CancelledError:
        await asyncio.shield(remove_container(name))  # cancelled means stop now
        raise
    finally:
        record_path.unlink(missing_ok=True)
        await asyncio.shield(remove_container(name))
    return ProcessOutcome(
        exit_code=exit_code,
        timed_out=timed_out,
        stderr_tail="\n".join(output.stderr_tail),
        duration_seconds=time.monotonic() - started,
    )
