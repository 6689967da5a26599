"""Background workers of the embedded server: one for the built-ins on the `orchard` task queue,
and one per version of a strategy file on a queue of its own, which exits once no open run needs it.

A worker's agents get the credentials in the worker's environment, so a run goes to a worker
started with the credentials (and Orchard code) of the shell that starts it: the queue's worker
when it has them, else that worker replaced when no run is open on it, else a worker of the run's
own on a queue beside it (`<queue>~<6 hex>`), which exits once its runs are over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from activities.ownership import OwnedProcess
from activities.paths import orchard_home
from activities.procfs import recorded_pid
from client.embedded import pending_worker, spare_worker
from client.embedded.dev_settings import DevServerError, DevServerSettings
from client.embedded.pending_worker import embedded_server_runs
from client.embedded.processes import log_tail, spawn, state_dir, stop
from client.embedded.server import POLL_SECONDS, SERVER_START_TIMEOUT
from client.handover import warm_record, warm_socket
from orchard_common.code import ROOT, code_digest
from orchard_common.connection import has_poller, open_runs
from workflows.sdk.models import SECRET_NAME

WORKER_START_TIMEOUT = 30.0
CUSTOM_WORKER_IDLE_EXIT = 600.0


def custom_task_queue(spec: str, digest: str) -> str:
    return f"orchard-custom-{hashlib.sha256(spec.encode()).hexdigest()[:6]}-{digest[:8]}"


@dataclass(frozen=True)
class WorkerIdentity:
    """What a worker's agents run with: Orchard's code, and its credential-like variables (their
    names, and one digest of names and values; the values are kept nowhere)."""

    code: str
    names: tuple[str, ...]
    credentials: str

    @classmethod
    def of(cls, env: dict[str, str]) -> WorkerIdentity:
        secrets = sorted((k, v) for k, v in env.items() if SECRET_NAME.search(k))
        return cls(code_digest(), tuple(k for k, _ in secrets), hashlib.sha256(json.dumps(secrets).encode()).hexdigest()[:16])

    @classmethod
    def read(cls, path: Path) -> WorkerIdentity | None:
        """None when unknown (no file, or one an older Orchard wrote)."""
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(path.read_text())
            return cls(data["code"], tuple(data["names"]), data["credentials"])
        return None

    def dumps(self) -> str:
        return json.dumps({"code": self.code, "names": list(self.names), "credentials": self.credentials})

    def unlike(self, worker: WorkerIdentity | None) -> str | None:
        """Why a worker of identity `worker` cannot serve this shell's run (None: it can), in words."""
        if worker == self:
            return None
        if worker is None:
            return "what it runs with is not known (an older Orchard started it)"
        if worker.code != self.code:
            return "it runs other Orchard code"
        differ = sorted(set(self.names) ^ set(worker.names)) or list(self.names)
        return f"its credentials differ from this shell's ({', '.join(differ) or 'none set here'})"


def start_worker(
    settings: DevServerSettings, task_queue: str, strategy_spec: str | None = None, extra_env: dict[str, str] | None = None,
    modules: list[str] | None = None, early_imports: list[str] | None = None, processes: int | None = None,
) -> None:
    """Start the background worker for `task_queue` unless one runs: the command's pending worker
    (client/embedded/pending_worker.py), imported already, if the launcher started one (it imports
    `early_imports` too, while it waits). It needs no server yet: it connects once the server
    answers, so a cold start brings both up at once. `processes`: worker.processes of the run's
    orchard.yaml (default 1); a worker that runs already keeps its own."""
    pid_file = _pid_file(task_queue)
    if recorded_pid(pid_file) is not None:
        return
    env = {**os.environ, **(extra_env or {})}
    args = ["--address", settings.address, "--namespace", settings.namespace, "--task-queue", task_queue, "--connect-wait", str(SERVER_START_TIMEOUT),
            "--processes", str(processes or 1)]  # always: not an orchard.yaml the worker finds in the command's directory
    if strategy_spec:
        # The built-ins too: a custom strategy may run them as children, on its own queue.
        args += ["--strategy", strategy_spec, "--idle-exit", str(CUSTOM_WORKER_IDLE_EXIT)]
        for module in modules or []:
            args += ["--module", module]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    pid = pending_worker.hand_over(args, env, _log(task_queue), early_imports or [])
    if pid is None:
        pid = spare_worker.claim(args, env, _log(task_queue), early_imports or [])
    owned = OwnedProcess.of(pid) if pid is not None else None
    if owned is not None:
        pid_file.write_text(owned.model_dump_json())
    else:  # -P: the user's directory (a `client/` or `worker.py` of theirs) cannot shadow Orchard's modules
        spawn([sys.executable, "-P", "-m", "orchard_worker", *args], _log(task_queue), pid_file, env=env)
    pid_file.with_suffix(".identity").write_text(WorkerIdentity.of(env).dumps())


async def worker_queue(client: Client, task_queue: str, extra_env: dict[str, str] | None = None) -> str:
    """The queue a run started from this shell goes to, so that its agents get this shell's
    credentials: `task_queue` when its worker has them (or none runs), its worker replaced when no
    run is open on it, else a queue beside it whose worker this shell starts. Says in one line
    why it replaces a worker or starts another (the new worker takes a few seconds to start)."""
    pid_file = _pid_file(task_queue)
    if recorded_pid(pid_file) is None:
        return task_queue
    mine = WorkerIdentity.of({**os.environ, **(extra_env or {})})
    why = mine.unlike(WorkerIdentity.read(pid_file.with_suffix(".identity")))
    if why is None:
        return task_queue
    busy = await open_runs(client, task_queue)
    if busy == 0:
        print(f"orchard: restarting the background worker ({task_queue}), which has no open run: {why}", file=sys.stderr, flush=True)
        await asyncio.to_thread(stop, pid_file, 20.0)
        return task_queue
    own = _sibling_for(task_queue, mine)
    print(f"orchard: the background worker ({task_queue}) serves {busy} open run{'s' * (busy != 1)} and {why}: this run gets a worker "
          f"of its own with this shell's ({own}; it exits {CUSTOM_WORKER_IDLE_EXIT / 60:g} minutes after its last run)", file=sys.stderr, flush=True)
    return own


def _sibling_for(task_queue: str, identity: WorkerIdentity) -> str:
    """A queue beside `task_queue` whose worker runs with `identity`: one running already, or a new name."""
    for pid_file in sorted(state_dir("workers").glob(f"{task_queue}~*.pid")):
        if recorded_pid(pid_file) is not None and WorkerIdentity.read(pid_file.with_suffix(".identity")) == identity:
            return pid_file.stem
    return f"{task_queue}~{secrets.token_hex(3)}"


async def ensure_worker(
    client: Client,
    settings: DevServerSettings,
    task_queue: str,
    strategy_spec: str | None = None,
    extra_env: dict[str, str] | None = None,
    modules: list[str] | None = None,
    processes: int | None = None,
) -> None:
    """A background worker polling `task_queue`: the built-ins, and one custom strategy on its own
    queue. One that runs is kept whatever it runs with: a run's queue was chosen for its
    credentials when it started (worker_queue), and its worker serves it to its end."""
    pid_file = _pid_file(task_queue)
    start_worker(settings, task_queue, strategy_spec, extra_env, modules, processes=processes)
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
    code: the commands after this one start in milliseconds; and a spare worker
    (client/embedded/spare_worker.py), so that a run needing a new worker gets one already
    imported. One from other code is replaced."""
    if not embedded_server_runs():
        return  # no embedded server: nothing to sit beside (and nothing is created)
    spare_worker.ensure_spare()
    pid_file = _warm_pid_file()
    if recorded_pid(pid_file) is not None:
        with contextlib.suppress(OSError):
            if warm_record().read_text() == code_digest():
                return
        stop(pid_file, timeout=5.0)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    spawn([sys.executable, "-m", "client.warm"], state_dir("logs") / "warm-client.log", pid_file, cwd=str(ROOT))


def stop_warm_client() -> list[str]:
    """The warm client stopped, and the spare worker beside it: which of them ran."""
    stopped = ["spare worker"] if spare_worker.stop_spare() else []
    return (["warm client"] if stop(_warm_pid_file(), timeout=5.0) else []) + stopped


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
