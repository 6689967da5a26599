"""A worker started before its command knows it needs one, so that its start overlaps the command's.

On a cold start (no embedded server yet) the launcher of `orchard run` starts this process first
thing. It imports the worker (about a second: every strategy and activity) while the command
imports and checks its input. Once the input is valid the command hands it the worker's
arguments, environment and log (`hand_over`, from start_worker), and it becomes that worker. On
bad input, a named server or a worker that runs already, the command lets it go: its socket
closes, and it exits at once, even mid-import, having created nothing. Until it is handed a start
it holds no file of Orchard's open and writes nothing.

With the server up, the launcher starts one only for a run of a strategy file (`--strategy
my.py`), whose worker is not running yet the first time; a later command (the warm client's)
claims the spare worker instead (client/embedded/spare_worker.py): the same process, started
ahead beside the warm client, which waits on a socket of its own (`--listen PATH`).

    python -P -m client.embedded.pending_worker FD     (started by `before_command` only)
    python -P -m client.embedded.pending_worker --listen PATH     (the spare worker)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activities.paths import server_pid_file
from activities.procfs import observed, recorded_pid
from activities.timeline import mark
from client import handover
from client.handover import same_user
from client.target import external_target
from orchard_common.code import code_digest
from orchard_common.startup import importing
from workflows.sdk.secret_names import SECRET_NAME

if TYPE_CHECKING:
    import subprocess

ACK = b"1"
RUN_COMMANDS = (["run"], ["runbook", "run"])
NOT_EMBEDDED_FLAGS = {"--address", "--with-worker", "-h", "--help"}
"""Flags that say the command starts no embedded worker (a named server, an in-process worker) or no run."""

_pending: tuple[socket.socket, subprocess.Popen[bytes], list[str]] | None = None
"""The command's end of the socket, the pending worker and its command line."""


def embedded_server_runs() -> bool:
    return recorded_pid(server_pid_file()) is not None


def before_command(argv: list[str]) -> bool:
    """(In the launcher, before the command imports anything.) Whether the embedded server runs
    already (then this is not the first command on it); if it does not and the command starts a
    run on it, a pending worker is started for it; if it does, only for a run of a strategy file
    (the built-ins' worker runs already; a file's may not)."""
    if embedded_server_runs():
        if strategy_file_named(argv):
            _start_pending(argv)
        return True
    _start_pending(argv)
    return False


def pending_started() -> bool:
    """A pending worker was started for this command (and not yet handed a start or let go)."""
    return _pending is not None


def strategy_file_named(argv: list[str]) -> bool:
    """The command names a strategy file (`--strategy my.py`, `--strategy=my.py:Class`)."""
    named = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--strategy"]
    named += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--strategy=")]
    return any(spec.split(":", 1)[0].endswith(".py") for spec in named)


def start_environment() -> dict[str, str]:
    """The environment a pending or spare worker starts with: this shell's without its credential-like
    variables. Which credentials its agents get is the run's to say: the command that hands it a
    start hands it the run's environment with them (hand_over, spare_worker.claim); until then it
    holds none, and one let go never held any."""
    return {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}


def _start_pending(argv: list[str]) -> None:
    global _pending
    if not any(argv[: len(prefix)] == prefix for prefix in RUN_COMMANDS):
        return
    if NOT_EMBEDDED_FLAGS.intersection(arg.split("=", 1)[0] for arg in argv) or external_target(None):
        return
    import subprocess  # only here: the launcher's usual path does without it

    ours, theirs = socket.socketpair()
    # -P and the checkout as cwd: the user's directory (a `client/` or `worker.py` of theirs) cannot shadow Orchard's modules.
    cmd = [sys.executable, "-P", "-m", __name__, str(theirs.fileno())]
    proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=Path(__file__).resolve().parents[2], env=start_environment())
    theirs.close()
    _pending = (ours, proc, cmd)


def hand_over(worker_args: list[str], env: dict[str, str], log: Path, early_imports: list[str]) -> int | None:
    """Make the pending worker `python -m orchard_worker WORKER_ARGS` with this environment, writing to
    `log`, in this directory, importing `early_imports` beside its start (while it waits for its
    server): its pid. None when there is none (or it has gone): start one as usual."""
    global _pending
    if _pending is None:
        return None
    conn, proc, cmd = _pending
    _pending = None
    with conn, log.open("ab") as out:
        seen = observed(proc.pid)
        if seen is None or seen[1] != cmd:
            return None
        try:
            handover.send(conn, {"worker_args": worker_args, "env": env, "cwd": os.getcwd(), "early_imports": early_imports}, [out.fileno()])
        except OSError:
            return None
    return proc.pid


def release() -> None:
    """Let the pending worker go, if the command did not hand it a start: it exits."""
    global _pending
    if _pending is not None:
        _pending[0].close()
        _pending = None


Handed = queue.SimpleQueue[tuple[dict[str, Any], list[int]]]


def _await_start(conn: socket.socket, handed: Handed, ack: bool = False) -> None:
    try:
        received = handover.receive(conn)
        if received is not None and ack:
            conn.sendall(ACK)  # the claimer records this process as the queue's worker only now
    except (OSError, ValueError):
        received = None
    if received is None:
        os._exit(0)  # let go (or the command died): nothing was started, nothing is left
    handed.put(received)


def _await_claim(listener: socket.socket, path: Path, handed: Handed) -> None:
    """The spare worker: the first connection of this user claims it; then no other can."""
    while True:
        conn, _ = listener.accept()
        if same_user(conn):
            break
        conn.close()
    listener.close()
    path.unlink(missing_ok=True)
    _await_start(conn, handed, ack=True)


def _listen(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # only this user may claim it
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(1)
    return listener


def main(argv: list[str]) -> int:
    mark("pending worker: python up")
    handed: Handed = queue.SimpleQueue()
    if argv[0] == "--listen":
        path = Path(argv[1])
        listener = _listen(path)
        threading.Thread(target=_await_claim, args=(listener, path, handed), daemon=True).start()
    else:
        threading.Thread(target=_await_start, args=(socket.socket(fileno=int(argv[0])), handed), daemon=True).start()
    with importing():
        from orchard_worker import main as worker  # the second this process exists to spend early

        worker.strategies_for([])  # the built-ins' modules, imported on first use (the sandbox checks none of them: orchard_common/sandbox.py)
    mark("pending worker: imported")
    if argv[0] == "--listen":  # a spare has time: every runner's modules too, so that no first instance waits on an import
        from activities.runners.choice import RUNNER_MODULES

        for module in [m for modules in RUNNER_MODULES.values() for m in modules]:
            importlib.import_module(module)
        path.with_suffix(".code").write_text(code_digest())  # the code it imported: claimed by commands of that code only
    message, (log,) = handed.get()
    mark("pending worker: handed a start")
    for target in (1, 2):
        os.dup2(log, target)
    os.close(log)
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    for entry in reversed(message["env"].get("PYTHONPATH", "").split(os.pathsep)):  # read at a start only: applied by hand
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    for module in message["early_imports"]:  # mostly while the worker waits for its server; a first use waits for the rest
        threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()
    return worker.main(message["worker_args"])


if __name__ == "__main__":
    code = main(sys.argv[1:])
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)  # as the worker does (orchard_worker/main.py): no interpreter finalization under the Temporal client's threads
