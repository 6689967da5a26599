"""`network_egress: proxy`: the container (or sandbox) has no network, only the model API relayed into it.

For each endpoint the plugin needs (a base URL such as https://api.anthropic.com or
http://127.0.0.1:8080), the worker listens on a unix socket and forwards each connection to the
endpoint; inside the container relay.js listens on loopback at the endpoint's port and forwards
to that socket. The host name resolves to 127.0.0.1 in the container, TLS stays end to end, and
nothing else is reachable. The sandbox runner (activities/runners/sandbox/) listens in its
sandbox's network namespace itself and forwards with the same `forward_to`; both write the same
/etc/hosts (`hosts_file`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from activities.paths import orchard_home

RELAY_SCRIPT = Path(__file__).with_name("relay.js")
CONTAINER_DIR = "/run/orchard-relay"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass
class RelayPlan:
    """What the container needs: a mount, the relay's argv prefix, host names mapped to loopback."""

    host_dir: Path
    argv_prefix: list[str] = field(default_factory=list)
    loopback_hosts: list[str] = field(default_factory=list)


def endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not a URL: {url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


def forward_to(host: str, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))

    return handle


LOOPBACK_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
                  "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
"""What the engine writes into /etc/hosts of a container on its `none` network."""


def hosts_file(loopback_names: list[str] | tuple[str, ...]) -> Path:
    """An /etc/hosts for a container or sandbox without a network: loopback's names, and
    `loopback_names` (the relayed endpoints' hosts) on 127.0.0.1. One file per content, never
    changed once written."""
    text = LOOPBACK_HOSTS + "".join(f"127.0.0.1\t{name}\n" for name in loopback_names)
    path = orchard_home() / "containers" / f"hosts-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_name(f".{path.name}.{os.getpid()}")
        written.write_text(text)
        written.chmod(0o644)
        written.replace(path)  # whole or not at all: another worker's instance may be reading it
    return path


RELAY_PREFIX = "orchard-relay-"


def remove_relay_dir(path: Path) -> None:
    """Remove a relay's folder that a record names: only one of ours, made by `model_relay` in the
    temporary directory (a record is a file, and a file names no other folder for removal here)."""
    if path.parent == Path(tempfile.gettempdir()) and path.name.startswith(RELAY_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def model_relay(urls: list[str], agent_uid: int | None) -> AsyncIterator[RelayPlan | None]:
    """Relays for `urls` while the block runs; `agent_uid` (when the worker is root) may connect.
    None when there is nothing to relay (a container that is not `proxy`): no folder is made."""
    if not urls:
        yield None
        return
    # A short path of its own: unix socket paths are limited to ~100 bytes.
    host_dir = Path(tempfile.mkdtemp(prefix=RELAY_PREFIX))
    servers: list[asyncio.AbstractServer] = []
    try:
        shutil.copy(RELAY_SCRIPT, host_dir / "relay.js")
        plan = RelayPlan(host_dir=host_dir, argv_prefix=["node", f"{CONTAINER_DIR}/relay.js"])
        for i, (host, port) in enumerate(dict.fromkeys(endpoint(u) for u in urls)):
            socket_path = host_dir / f"{i}.sock"
            servers.append(await asyncio.start_unix_server(forward_to(host, port), path=str(socket_path)))
            plan.argv_prefix.append(f"127.0.0.1:{port}={CONTAINER_DIR}/{i}.sock")
            if host not in LOOPBACK_NAMES:
                plan.loopback_hosts.append(host)
        plan.argv_prefix.append("--")
        if agent_uid is not None:
            for path in [host_dir, *host_dir.iterdir()]:
                os.chown(path, agent_uid, agent_uid)
        yield plan
    finally:
        for server in servers:
            server.close()
        remove_relay_dir(host_dir)
