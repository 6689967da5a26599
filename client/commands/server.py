"""`orchard server [start|stop|status]`: the dev server from temporal-dev.yml in the foreground;
`stop` stops the embedded one and its background workers."""

from __future__ import annotations

import argparse
import asyncio
import os

from activities.paths import orchard_home, server_pid_file
from activities.procfs import recorded_pid
from client.embedded.background_workers import stop_warm_client, stop_workers
from client.embedded.dev_settings import DevServerError, dev_config_path, load_dev_settings, port_taken, server_command
from client.embedded.server import stop_server, try_connect
from client.errors import EXIT_FAILURE, EXIT_SUCCESS
from orchard_common.connection import ServerUnreachable, connect


def stop_all() -> list[str]:
    """Stop the warm client and the spare worker, the background workers (they cancel their agents first), then the server."""
    stopped = stop_warm_client()
    stopped += [f"worker {queue}" for queue in stop_workers()]
    if stop_server():
        stopped.append("Temporal dev server")
    return stopped


def cmd_server(args: argparse.Namespace) -> int:
    if args.action == "stop":
        stopped = stop_all()
        print("stopped: " + ", ".join(stopped) if stopped else f"nothing of Orchard's is running (state in {orchard_home()})")
        return EXIT_SUCCESS
    settings = load_dev_settings()
    if args.action == "status":
        try:
            asyncio.run(connect(settings.address, settings.namespace))
            print(f"Temporal at {settings.address} is up" + (f"; UI {settings.ui_url}" if settings.ui_url else ""))
            return EXIT_SUCCESS
        except ServerUnreachable:
            print(f"Temporal at {settings.address} is not running")
            return EXIT_FAILURE
    if asyncio.run(try_connect(settings)) is not None:
        embedded = recorded_pid(server_pid_file()) is not None
        raise DevServerError(
            f"a Temporal server already answers on {settings.address}"
            + (" (the embedded one that `orchard run` started in the background)" if embedded else "")
            + "; use it as it is, or stop it first" + (" with `orchard server stop`" if embedded else "")
        )
    if port_taken(settings.address):
        raise DevServerError(f"{settings.address} is taken by a program that is not Temporal; set another address in {dev_config_path()} (copy it to "
                             "$ORCHARD_HOME/temporal-dev.yml to change it)")
    cmd = server_command(settings)
    settings.db_path().parent.mkdir(parents=True, exist_ok=True)
    print(f"Temporal dev server from {dev_config_path()} on {settings.address}" + (f", UI {settings.ui_url}" if settings.ui_url else ""), flush=True)
    os.execv(cmd[0], cmd)
