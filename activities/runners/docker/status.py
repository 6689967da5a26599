"""Whether the Docker engine answers and has an image: the questions `orchard run` asks before it
starts anything, and a worker before its first container.

An engine on a unix socket (DOCKER_HOST unset, or unix://) is asked with the standard library: two
GETs take 6 ms, and importing the Docker SDK for them took 0.1-0.15 s of a cold `orchard run`. An
engine elsewhere (tcp://, ssh://, TLS) is asked through the SDK, which knows those transports.
Answers are kept for a few seconds: a run's instances ask once between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import time
import uuid
from typing import Any
from urllib.parse import quote

from activities.paths import orchard_home
from activities.runners.docker import BUILD_HINT, LABEL_HOME, LABEL_MANAGED, DockerError, ImageMissing
from activities.timeline import mark

DEFAULT_HOST = "unix:///var/run/docker.sock"
STATUS_TTL_SECONDS = 10.0
ASK_TIMEOUT_SECONDS = 30.0

_status: dict[str, tuple[float, str | None]] = {}
"""What the engine last said, by engine and question: (when, problem or None)."""


def engine_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=ASK_TIMEOUT_SECONDS)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _ask(path: str, method: str = "GET", sent: dict[str, Any] | None = None) -> bytes | None:
    """The body of `method` (GET) `path` on the engine's unix socket; None for a 404."""
    conn = _UnixConnection(engine_host().removeprefix("unix://"))
    try:
        if sent is None:
            conn.request(method, path)
        else:
            conn.request(method, path, json.dumps(sent), {"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
    except OSError as e:
        raise DockerError(e.strerror or str(e)) from None
    finally:
        conn.close()
    if response.status == 404:
        return None
    if response.status >= 300:
        raise DockerError(f"{response.status} {response.reason}: {body.decode(errors='replace').strip()[:200]}")
    return body


def _on_socket() -> bool:
    return engine_host().startswith("unix://")


async def engine_problem() -> str | None:
    """None when the engine answers, else why not, in one line (cached for a few seconds)."""
    key = f"{engine_host()} engine"
    cached = _status.get(key)
    if cached and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
        return cached[1]
    try:
        if _on_socket():
            await asyncio.to_thread(_ask, "/_ping")
        else:
            from activities.runners.docker.engine import call, engine

            await call(lambda: engine().ping())
        problem = None
    except DockerError as e:
        problem = f"the Docker engine at {engine_host()} is not reachable ({e})"
    _status[key] = (time.monotonic(), problem)
    return problem


async def image_created(image: str) -> str | None:
    """When `image` was built, or None if the engine does not have it."""
    if _on_socket():
        body = await asyncio.to_thread(_ask, f"/images/{quote(image, safe='/:')}/json")
        return None if body is None else str(json.loads(body)["Created"])
    from activities.runners.docker.engine import call, engine

    try:
        return str((await call(lambda: engine().api.inspect_image(image)))["Created"])
    except DockerError as e:
        if "No such image" in str(e) or "not found" in str(e).lower():
            return None
        raise


async def image_present(image: str) -> bool:
    """Whether the engine has `image` (cached for a few seconds, like the engine's status)."""
    key = f"{engine_host()} image {image}"
    cached = _status.get(key)
    if cached and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
        return cached[1] is None
    present = await image_created(image) is not None
    _status[key] = (time.monotonic(), None if present else "missing")
    return present


async def _ensure_image(image: str) -> None:
    problem = await engine_problem()
    if problem:
        raise DockerError(problem)
    if not await image_present(image):
        raise ImageMissing(f"the agent image {image} is not on this Docker host; {BUILD_HINT}")


_asking: dict[tuple[int, str], asyncio.Future[None]] = {}
"""The image checks in flight, by event loop and image."""


def image_check(image: str) -> asyncio.Future[None]:
    """The engine and `image` asked (ensure_image's question), started now if no one asks already:
    who asks meanwhile shares the answer. An instance starts it as soon as it knows its agent runs
    in Docker, and its container's own check finds the answer ready, or nearly."""
    key = (id(asyncio.get_running_loop()), image)
    asked = _asking.get(key)
    if asked is None:
        asked = _asking[key] = asyncio.ensure_future(_ensure_image(image))

        def done(finished: asyncio.Future[None]) -> None:
            _asking.pop(key, None)
            if not finished.cancelled():
                finished.exception()  # retrieved: a check no one waited for is no error of its own

        asked.add_done_callback(done)
    return asked


async def ensure_image(image: str) -> None:
    """Raise DockerError if the engine is unreachable, ImageMissing if the image is not here."""
    await asyncio.shield(image_check(image))


WARM_UP_PREFIX = "orchard-warmup-"


def warm_up(image: str) -> None:
    """(Blocking: on a thread of its own while a run starts.) The engine's first container create
    after it has been idle a while took 0.2-0.8 s here, the next ones 15-40 ms: a container created
    and removed now, never started, pays that before the run's first agent asks for its own.
    Labelled as Orchard's, so `orchard clean` finds one a killed command left. On an engine reached
    over the unix socket only (the standard library's HTTP); any error is the run's to meet later."""
    if not _on_socket():
        return
    name = f"{WARM_UP_PREFIX}{uuid.uuid4().hex[:12]}"
    config = {"Image": image, "Cmd": ["true"], "NetworkDisabled": True, "HostConfig": {"NetworkMode": "none"},
              "Labels": {LABEL_MANAGED: "1", LABEL_HOME: str(orchard_home())}}
    mark("command: warm-up create")
    with contextlib.suppress(DockerError, OSError, ValueError):
        try:
            _ask(f"/containers/create?name={name}", "POST", config)
        finally:
            _ask(f"/containers/{name}?force=1", "DELETE")
    mark("command: warm-up removed")
