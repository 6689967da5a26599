"""Background workers of the embedded server: one for the built-ins on the `orchard` task queue,
and one per version of a strategy file on a queue of its own, which exits once no open run needs it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from temporalio.client import Client

from activities.ownership import OwnedProcess
from activities.paths import orchard_home
from activities.procfs import recorded_pid
from client.connection import has_poller, open_runs
from client.embedded import pending_worker
from client.embedded.pending_worker import embedded_server_runs
from client.embedded.processes import log_tail, spawn, state_dir, stop
from client.embedded.server import POLL_SECONDS, SERVER_START_TIMEOUT, DevServerError, DevServerSettings
from client.launcher import ROOT, code_digest, warm_record, warm_socket
from workflows.sdk.models import SECRET_NAME

WORKER_START_TIMEOUT = 30.0
CUSTOM_WORKER_IDLE_EXIT = 600.0


def custom_task_queue(spec: str, digest: str) -> str:
    return f"orchard-custom-{hashlib.sha256(spec.encode()).hexdigest()[:6]}-{digest[:8]}"


def worker_identity(env: dict[str, str]) -> str:
    """Orchard's code and the credentials a worker would be started with, as one digest."""
    secrets = sorted((k, v) for k, v in env.items() if SECRET_NAME.search(k))
    return hashlib.sha256((code_digest() + json.dumps(secrets)).encode()).hexdigest()[:16]


def start_worker(
    settings: DevServerSettings, task_queue: str, strategy_spec: str | None = None, extra_env: dict[str, str] | None = None,
    modules: list[str] | None = None, early_imports: list[str] | None = None,
) -> None:
    """Start the background worker for `task_queue` unless one runs: the command's pending worker
    (client/embedded/pending_worker.py), imported already, if the launcher started one (it imports
    `early_imports` too, while it waits). It needs no server yet: it connects once the server
    answers, so a cold start brings both up at once."""
    pid_file = _pid_file(task_queue)
    if recorded_pid(pid_file) is not None:
        return
    env = {**os.environ, **(extra_env or {})}
    args = ["--address", settings.address, "--namespace", settings.namespace, "--task-queue", task_queue, "--connect-wait", str(SERVER_START_TIMEOUT)]
    if strategy_spec:
        # The built-ins too: a custom strategy may run them as children, on its own queue.
        args += ["--strategy", strategy_spec, "--idle-exit", str(CUSTOM_WORKER_IDLE_EXIT)]
        for module in modules or []:
            args += ["--module", module]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    pid = pending_worker.hand_over(args, env, _log(task_queue), early_imports or [])
    owned = OwnedProcess.of(pid) if pid is not None else None
    if owned is not None:
        pid_file.write_text(owned.model_dump_json())
    else:  # -P: the user's directory (a `client/` or `worker.py` of theirs) cannot shadow Orchard's modules
        spawn([sys.executable, "-P", "-m", "worker", *args], _log(task_queue), pid_file, env=env)
    pid_file.with_suffix(".identity").write_text(worker_identity(env))


async def ensure_worker(
    client: Client,
    settings: DevServerSettings,
    task_queue: str,
    strategy_spec: str | None = None,
    extra_env: dict[str, str] | None = None,
    modules: list[str] | None = None,
) -> None:
    """A background worker polling `task_queue`: the built-ins, and one custom strategy on its own queue.

    A worker started from other Orchard code or other credentials is replaced when no run is
    open on its queue (replacing it mid-run would restart its agents); otherwise this warns.
    """
    pid_file = _pid_file(task_queue)
    identity_file = pid_file.with_suffix(".identity")
    identity = worker_identity({**os.environ, **(extra_env or {})})
    if recorded_pid(pid_file) is not None and identity_file.is_file() and identity_file.read_text() != identity:
        if await open_runs(client, task_queue) == 0:
            stop(pid_file, timeout=20.0)
        else:
            print(f"orchard: warning: the background worker for {task_queue} runs other Orchard code or credentials; "
                  "`orchard server stop` restarts it (its running agents restart too)", file=sys.stderr)
    start_worker(settings, task_queue, strategy_spec, extra_env, modules)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        if await has_poller(client, task_queue):
            return
        if recorded_pid(pid_file) is None:
            raise DevServerError(f"the background worker exited at start ({log_tail(_log(task_queue))}); see {_log(task_queue)}")
        await asyncio.sleep(POLL_SECONDS)
    raise DevServerError(f"the background worker did not start polling within {WORKER_START_TIMEOUT:g}s; see {_log(task_queue)}")


def _pid_file(task_queue: str) -> Path:
    return state_dir("workers") / f"{task_queue}.pid"


def _log(task_queue: str) -> Path:
    return state_dir("logs") / f"worker-{task_queue}.log"


def start_warm_client() -> None:
    """The warm client (client/warm.py) beside the embedded server while that runs, from this
    code: the commands after this one start in milliseconds. One from other code is replaced."""
    if not embedded_server_runs():
        return  # no embedded server: nothing to sit beside (and nothing is created)
    pid_file = _warm_pid_file()
    if recorded_pid(pid_file) is not None:
        with contextlib.suppress(OSError):
            if warm_record().read_text() == code_digest():
                return
        stop(pid_file, timeout=5.0)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    spawn([sys.executable, "-m", "client.warm"], state_dir("logs") / "warm-client.log", pid_file, cwd=str(ROOT))


def stop_warm_client() -> bool:
    return stop(_warm_pid_file(), timeout=5.0)


def _warm_pid_file() -> Path:
    return warm_socket().with_name("client.pid")


def stop_workers() -> list[str]:
    """Stop every background worker (each cancels its agents first); the queues it stopped."""
    stopped = []
    workers = orchard_home() / "workers"
    for pid_file in sorted(workers.glob("*.pid")) if workers.is_dir() else []:
        if stop(pid_file, timeout=20.0):
            stopped.append(pid_file.stem)
        pid_file.with_suffix(".identity").unlink(missing_ok=True)
    return stopped
