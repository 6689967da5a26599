"""The Docker engine, through the `docker` CLI: reachability, images, Orchard's containers.

Orchard labels every container it starts (LABEL_RUN, LABEL_KEY), so what a dead worker left
behind can always be found and removed (`orchard clean`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import time

DEFAULT_IMAGE = "orchard-agent:latest"
BUILD_HINT = "build it with `docker build -t orchard-agent docker/` (or docker/build-offline-image.sh without a registry)"
LABEL_MANAGED = "orchard.managed"
LABEL_RUN = "orchard.run_id"
LABEL_KEY = "orchard.key"
STATUS_TTL_SECONDS = 10.0


class DockerError(Exception):
    """The engine refused or failed a command (an infrastructure error: retried)."""


async def docker(*args: str, check: bool = True, timeout: float = 60.0) -> str:
    """Run `docker ARGS` and return its stdout (stripped)."""
    if shutil.which("docker") is None:
        raise DockerError("the docker CLI is not installed; install Docker (Debian: apt-get install docker.io)")
    proc = await asyncio.create_subprocess_exec(
        "docker", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise DockerError(f"docker {args[0]} did not answer within {timeout:g}s") from None
    if check and proc.returncode != 0:
        raise DockerError(err.decode(errors="replace").strip().splitlines()[-1] if err.strip() else f"docker {args[0]} failed")
    return out.decode(errors="replace").strip()


_status: dict[str, tuple[float, str | None]] = {}
"""What the engine last said, by question: (when, problem or None)."""


async def engine_problem() -> str | None:
    """None when the engine answers, else why not, in one line (cached for a few seconds)."""
    cached = _status.get("engine")
    if cached and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
        return cached[1]
    try:
        await docker("version", "--format", "{{.Server.Version}}", timeout=10)
        problem = None
    except DockerError as e:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        problem = f"the Docker engine at {host} is not reachable ({e})"
    _status["engine"] = (time.monotonic(), problem)
    return problem


async def image_present(image: str) -> bool:
    """Whether the engine has `image` (cached for a few seconds, like the engine's status)."""
    cached = _status.get(f"image {image}")
    if cached and time.monotonic() - cached[0] < STATUS_TTL_SECONDS:
        return cached[1] is None
    present = bool(await docker("image", "inspect", "--format", "{{.Id}}", image, check=False))
    _status[f"image {image}"] = (time.monotonic(), None if present else "missing")
    return present


def container_name(run_id: str, key: str) -> str:
    """One name per instance, the same on every attempt: a retry replaces what a dead worker left."""
    slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", run_id)[:60]
    return f"orchard-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


async def remove_container(name: str) -> None:
    """Remove the container now (killing it if it runs); no error if it is gone."""
    await docker("rm", "--force", name, check=False)


async def orchard_containers(run_id: str | None = None) -> list[tuple[str, str]]:
    """(name, run id) of every container Orchard started, running or not, optionally of one run."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_MANAGED
    out = await docker("ps", "--all", "--filter", f"label={label}", "--format", f'{{{{.Names}}}}\t{{{{.Label "{LABEL_RUN}"}}}}')
    return [tuple(line.split("\t", 1)) for line in out.splitlines() if "\t" in line]  # type: ignore[misc]
