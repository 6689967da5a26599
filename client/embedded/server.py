"""The embedded Temporal dev server: the pip-installed `temporal` binary, run in the background
under $ORCHARD_HOME (state in a SQLite file, so runs survive a restart) when no server is named.

Its settings come from temporal-dev.yml (the project's, or a copy in $ORCHARD_HOME that wins).
`orchard server` runs the same server in the foreground.
"""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client

from activities.paths import server_pid_file
from activities.timeline import mark
from client.embedded import early_server
from client.embedded.dev_settings import DevServerError, DevServerSettings, server_command
from client.embedded.processes import log_tail, spawn, state_dir, stop
from orchard_common.connection import ServerUnreachable, connect

SERVER_START_TIMEOUT = 60.0
POLL_SECONDS = 0.02
"""How often a starting server or worker is asked whether it is up (a cold start waits on both; a
refused connection costs under 2 ms)."""

async def try_connect(settings: DevServerSettings) -> Client | None:
    try:
        return await connect(settings.address, settings.namespace)
    except ServerUnreachable:
        return None


async def ensure_server(settings: DevServerSettings) -> Client:
    """A client of the embedded server, starting the server in the background if needed (or
    waiting for the one the launcher started)."""
    early = early_server.take()  # started by the launcher (a restart): it is this command's now
    client = await try_connect(settings)
    if client is not None:
        if early is not None:
            mark("command: server answers")
        return client
    log = state_dir("logs") / "temporal.log"
    if early is None:
        settings.db_path().parent.mkdir(parents=True, exist_ok=True)
        proc = spawn(server_command(settings), log, server_pid_file())
        mark("command: server spawned")
    else:
        proc = early
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevServerError(f"the Temporal dev server exited at start ({log_tail(log)}); see {log}")
        client = await try_connect(settings)
        if client is not None:
            mark("command: server answers")
            return client
        await asyncio.sleep(POLL_SECONDS)
    raise DevServerError(f"the Temporal dev server did not answer within {SERVER_START_TIMEOUT:g}s; see {log}")


def stop_server() -> bool:
    """Stop the background dev server; False if none was running."""
    return stop(server_pid_file(), timeout=20.0)
