"""The Docker engine, through the Docker SDK for Python: Orchard's containers, and the engine's version.

Orchard labels every container it starts (LABEL_HOME, LABEL_RUN, LABEL_KEY), so what a dead
worker left behind can always be found and removed (`orchard clean`), and only by the ORCHARD_HOME
whose worker started it: another one's containers on the same engine are not its to remove. The
SDK blocks; its calls run on a pool of their own, wide enough that 32 instances starting
containers at once are not queued behind each other (asyncio's default pool has a handful of
threads on a small host). Whether the engine answers and has an image: status.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from activities.runners.docker import LABEL_HOME, LABEL_KEY, LABEL_MANAGED, LABEL_RUN, DockerError

__all__ = ["LABEL_HOME", "LABEL_KEY", "LABEL_MANAGED", "LABEL_RUN"]  # where the runner and the tests have always found them
ENGINE_CALLS = 256
"""Engine calls in flight at once (and pooled connections): every running container holds one."""

T = TypeVar("T")
_calls = ThreadPoolExecutor(max_workers=ENGINE_CALLS, thread_name_prefix="docker-engine")


@functools.cache
def _engine_at(host: str | None) -> docker.DockerClient:
    return docker.DockerClient.from_env(timeout=60, max_pool_size=ENGINE_CALLS)


def engine() -> docker.DockerClient:
    """The engine DOCKER_HOST names (the local socket by default), connected once per host named."""
    return _engine_at(os.environ.get("DOCKER_HOST"))


def _one_line(e: Exception) -> str:
    explanation = getattr(e, "explanation", None)
    text = str(explanation or e).strip()
    return text.splitlines()[-1] if text else type(e).__name__


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the engine's pool; the SDK's and the transport's errors become DockerError."""
    try:
        return await asyncio.get_running_loop().run_in_executor(_calls, functools.partial(fn, *args, **kwargs))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerError(_one_line(e)) from None


async def engine_version() -> str:
    return str((await call(lambda: engine().version()))["Version"])


def container_name(run_id: str, key: str) -> str:
    """One name per instance, the same on every attempt: a retry replaces what a dead worker left."""
    slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", run_id)[:60]
    return f"orchard-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


async def remove_container(name: str) -> None:
    """Remove the container now (killing it if it runs); no error if it is gone or the engine is."""
    with contextlib.suppress(DockerError):
        await call(lambda: engine().api.remove_container(name, force=True))


async def orchard_containers(home: str, run_id: str | None = None) -> list[tuple[str, str]]:
    """(name, run id) of every container the workers of ORCHARD_HOME `home` started, running or
    not, optionally of one run."""
    labels = [f"{LABEL_MANAGED}=1", f"{LABEL_HOME}={home}", *([f"{LABEL_RUN}={run_id}"] if run_id else [])]
    listed = await call(lambda: engine().api.containers(all=True, filters={"label": labels}))
    return [(c["Names"][0].lstrip("/"), (c.get("Labels") or {}).get(LABEL_RUN, "")) for c in listed if c.get("Names")]
