"""Which runner an instance gets: one decision, for the worker and for the client's check."""

from __future__ import annotations

import os

from activities.runners.docker import AGENT_UID, DEFAULT_IMAGE, DockerError, ImageMissing
from workflows.sdk.models import TaskDefaults

AGENT_CLI_PLUGINS = ("claude-code", "codex")
RUNNER_MODULES = {"docker": ["activities.runners.docker.runner"]}
"""What a runner's first instance imports (the Docker SDK, with requests under it: 0.15 s). A worker
started for a run imports it while it waits for its server (client/embedded/pending_worker.py)."""


async def choose_runner(settings: TaskDefaults) -> tuple[str, str | None]:
    """The runner for these settings, and why Docker cannot be used when that matters.

    `auto` is docker for the agent CLIs when the engine and the image are here, else local (a
    `command` agent usually needs the host's own tools); an explicit `docker` stays docker."""
    if settings.runner == "local" or (settings.runner == "auto" and settings.plugin not in AGENT_CLI_PLUGINS):
        return "local", None
    from activities.runners.docker.status import ensure_image  # the standard library only: no Docker SDK

    try:
        await ensure_image(settings.docker_image or DEFAULT_IMAGE)
    except (DockerError, ImageMissing) as e:
        return ("docker" if settings.runner == "docker" else "local"), str(e)
    return "docker", None


def workspace_owner(runner: str) -> int | None:
    """Whose the workspace's tree is: the image's user when a root worker runs the agent in a
    container (so its overlay needs no chown), else this process's (None)."""
    return AGENT_UID if runner == "docker" and os.geteuid() == 0 else None
