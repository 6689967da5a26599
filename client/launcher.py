"""The `orchard` command's first step: hand the command to the warm client of this ORCHARD_HOME
when one runs, else run it here.

Importing Orchard (the Temporal client, pydantic, the models) takes most of a second, more than
most commands' own work. The warm client (client/warm.py) runs beside the embedded server with
all of it imported, and forks a child per command: the child takes this process's standard
input, output and error (passed over a unix socket), working directory, environment and
arguments, and runs the command as this process would have; this process relays Ctrl-C to it
and exits with its exit code. This module imports the standard library only, so handing a
command over costs what starting Python costs (client/handover.py, orchard_common/code.py,
orchard_common/startup.py, activities/paths.py and activities/timeline.py, the other modules it
imports, import the standard library only too). The command's imports run without the cyclic
garbage collector (orchard_common/startup.py). A cold `orchard run` starts its pending worker
and, after a restart, its server here, before the command's imports
(client/embedded/pending_worker.py, early_server.py).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import NoReturn

from activities.timeline import mark
from client import handover
from client.handover import EXIT, SIGNALS, warm_record, warm_socket
from orchard_common.code import code_digest
from orchard_common.startup import importing


def _handed_over(argv: list[str]) -> int | None:
    """The command's exit code, run by the warm client; None when there is none to run it (or it
    serves other code), and nothing was run."""
    if argv[:1] == ["server"]:
        return None  # `server stop` stops the warm client itself
    try:
        if warm_record().read_text() != code_digest():
            return None
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(warm_socket()))
    except OSError:
        return None
    with conn:
        try:
            handover.send(conn, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, [0, 1, 2])
        except OSError:
            return None
        for sig, code in SIGNALS.items():
            signal.signal(sig, lambda *_, code=code: conn.sendall(code))
        answer = b""
        while len(answer) < EXIT.size:
            chunk = conn.recv(EXIT.size - len(answer))
            if not chunk:
                print("orchard: the warm client stopped while it ran this command; see `orchard list` for a run it may have started", file=sys.stderr)
                return 1
            answer += chunk
        return EXIT.unpack(answer)[0]


def entrypoint() -> NoReturn:
    argv = sys.argv[1:]
    mark("command: launcher runs")
    code = _handed_over(argv)
    if code is None:
        with importing():
            from client.embedded.pending_worker import before_command, pending_started

            server_ran = before_command(argv)
            mark("command: pending worker spawned")
            cold_run = pending_started() and not server_ran
            if cold_run:
                from client.embedded import early_server
            try:
                if cold_run:
                    early_server.start()  # its server starts now too, if that creates nothing
                from client.cli import entrypoint as run_here
            except BaseException:
                if cold_run:
                    early_server.abandon()  # Ctrl-C (or a broken install) before the command ran: no server left behind
                raise

        mark("command: imported")

        run_here(start_warm=server_ran)
    os._exit(code)
