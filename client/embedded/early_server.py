"""The embedded server of a cold `orchard run` started by the launcher, before the command imports
Orchard, so that the server's start overlaps the command's imports and input check instead of
following them.

Only after a restart: the home's database exists, so starting the server creates nothing (in a new
home the database is made once the command's input is checked, as before: bad input creates
nothing). The command takes the server when it connects to the embedded one (client/embedded/
server.py's ensure_server); a command that ends without taking it (bad input, a named server in
orchard.yaml, an error, Ctrl-C) stops it (`abandon`), so a failed command leaves no server behind.
"""

from __future__ import annotations

import contextlib
import subprocess

from activities.paths import server_pid_file
from activities.timeline import mark
from client.embedded.dev_settings import DevServerError, load_dev_settings, port_taken, server_command
from client.embedded.processes import spawn, state_dir, stop

STOP_TIMEOUT = 0.5
"""How long a server no command took gets to stop on SIGTERM before it is killed. A dev server's
graceful stop took 3-5 s here under load, which a command that failed on bad input would wait for;
this one has served no run of that command, and Temporal's persistence outlives a killed process
as it outlives a crash (`orchard server stop` kills one that does not stop in 20 s)."""

_early: subprocess.Popen[bytes] | None = None
"""The server started here and not yet taken by the command."""


def start() -> bool:
    """(In the launcher of a run on the embedded server, which does not run.) Start the server now
    when its database exists and its address is free; whether it was started."""
    global _early
    try:
        settings = load_dev_settings()
        if not settings.db_path().is_file() or port_taken(settings.address):
            return False  # a new home (its database waits for valid input), or something else answers there: the command decides
        cmd = server_command(settings)
    except (DevServerError, OSError, ValueError):
        return False  # the command meets it again, and says it
    _early = spawn(cmd, state_dir("logs") / "temporal.log", server_pid_file())
    mark("command: server spawned (launcher)")
    return True


def take() -> subprocess.Popen[bytes] | None:
    """The server the launcher started, now the command's (it stays up as any embedded server does)."""
    global _early
    taken, _early = _early, None
    return taken


def abandon() -> None:
    """Stop the server the launcher started if the command never took it."""
    global _early
    if _early is not None:
        proc, _early = _early, None
        stop(server_pid_file(), timeout=STOP_TIMEOUT)  # SIGTERM, then SIGKILL: only the process its record proves is this one
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)  # gone (and its port free) when the command exits
