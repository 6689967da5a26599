"""Which runner an instance gets: one decision, for the worker and for the client's check."""

from __future__ import annotations

import os

from activities.runners.docker import AGENT_UID, DEFAULT_IMAGE, DockerError, ImageMissing
from activities.runners.sandbox import sandbox_problem
from workflows.sdk.models import TaskDefaults

AGENT_CLI_PLUGINS = ("claude-code", "codex")
RUNNER_MODULES = {"docker": ["activities.runners.docker.runner"], "sandbox": ["activities.runners.sandbox.runner"]}
"""What a runner's first instance imports (the Docker SDK, with requests under it: 0.15 s). A worker
started for a run imports it while it waits for its server (client/embedded/pending_worker.py)."""


async def choose_runner(settings: TaskDefaults) -> tuple[str, str | None]:
    """The runner for these settings, and why the one asked for (or the default's first choice)
    cannot be used when that matters.

    `auto` is the sandbox where bubblewrap works (probed once per process); else, as before the
    sandbox, docker for the agent CLIs when the engine and the image are here, else local (said, with
    why there is no sandbox). An explicit `sandbox` or `docker` stays what it is, with its problem."""
    if settings.runner == "local":
        return "local", None
    unsandboxed = None
    if settings.runner in ("auto", "sandbox"):
        unsandboxed = sandbox_problem(settings.network_egress)
        if unsandboxed is None or settings.runner == "sandbox":
            return "sandbox", unsandboxed
    if settings.runner == "auto" and settings.plugin not in AGENT_CLI_PLUGINS:
        return "local", unsandboxed
    from activities.runners.docker.status import ensure_image  # the standard library only: no Docker SDK

    try:
        await ensure_image(settings.docker_image or DEFAULT_IMAGE)
    except (DockerError, ImageMissing) as e:
        if settings.runner == "docker":
            return "docker", str(e)
        return "local", f"{e}; and {unsandboxed}"
    return "docker", None


async def instance_runner(settings: TaskDefaults) -> str:
    """The runner an instance's agent gets: choose_runner's, without waiting on its questions when
    the settings name the runner, which is then that runner whatever the answers (its problem is
    met as the agent starts). Docker's engine and image are asked now all the same, in the
    background, while the workspace is prepared: the container's own check shares the answer."""
    if settings.runner == "auto":
        return (await choose_runner(settings))[0]
    if settings.runner == "docker":
        from activities.runners.docker.status import image_check  # the standard library only: no Docker SDK

        image_check(settings.docker_image or DEFAULT_IMAGE)
    return settings.runner


def workspace_owner(runner: str) -> int | None:
    """Whose the workspace's tree is: the image's user when a root worker runs the agent in a
    container (so its overlay needs no chown), else this process's (None)."""
    return AGENT_UID if runner == "docker" and os.geteuid() == 0 else None
