"""Running an agent in its own container, hardened as Pitaya does.

The workspace is bind-mounted at /workspace, the agent's private home at /home/agent, and the
repository's object store (which the workspace borrows through its alternates file) read-only at
/orchard/objects. The container runs as a non-root user on a read-only root filesystem with a
tmpfs /tmp, no capabilities, no-new-privileges, and pids, CPU and memory limits; it is labelled
with its ORCHARD_HOME, the run id and key, and removed when the instance ends, times out or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.agents.base import AgentCommand
from activities.git.overlay import chown_tree, is_overlay, layers_of
from activities.git.untrusted import Untrusted
from activities.git.workspace import point_alternates
from activities.paths import orchard_home
from activities.runners.docker import AGENT_UID, DEFAULT_IMAGE
from activities.runners.docker.container import run_container
from activities.runners.docker.engine import LABEL_HOME, LABEL_KEY, LABEL_MANAGED, LABEL_RUN, call, container_name, engine
from activities.runners.docker.relay import CONTAINER_DIR, RelayPlan, hosts_file, model_relay
from activities.runners.docker.status import ensure_image
from activities.runners.local import ProcessOutcome
from activities.runners.site import AgentSite
from activities.timeline import mark
from workflows.sdk.models import TaskSpec

WORKSPACE = Path("/workspace")
AGENT_HOME = Path("/home/agent")
OBJECTS = "/orchard/objects"
PIDS_LIMIT = 1024
NO_NETWORK = ("offline", "proxy")
"""The egress modes whose containers get no network (a relay over a mounted socket is not one)."""
TMPFS_PATH, TMPFS_OPTIONS = "/tmp", "rw,exec,nosuid,nodev,size=1g"


@dataclass
class ContainerSpec:
    name: str
    image: str
    run_id: str
    key: str
    workspace: Path
    agent_home: Path
    objects: Path
    user: str
    network_egress: str = "online"
    cpu_limit: float | None = None
    memory_limit: str | None = None
    env_names: list[str] = field(default_factory=list)
    relay: RelayPlan | None = None
    home: Path = field(default_factory=orchard_home)
    """The ORCHARD_HOME whose worker starts it (its `orchard clean` may remove it, no other's)."""
    hosts_file: Path | None = None
    """The container's /etc/hosts when it has no network (hosts_file())."""


def container_config(spec: ContainerSpec, agent_argv: list[str], environ: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """The container's command and its creation options (the Engine API's, through the SDK).
    Variables named in `spec.env_names` take their values from `environ`; no process on the host
    has them on its command line."""
    host: dict[str, Any] = {
        "init": True, "read_only": True, "tmpfs": {TMPFS_PATH: TMPFS_OPTIONS},
        "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": PIDS_LIMIT,
        "binds": {str(spec.workspace): {"bind": str(WORKSPACE), "mode": "rw"}, str(spec.objects): {"bind": OBJECTS, "mode": "ro"},
                  str(spec.agent_home): {"bind": str(AGENT_HOME), "mode": "rw"}},
    }
    if spec.cpu_limit:  # the engine refuses more CPUs than the host has
        host["nano_cpus"] = int(min(spec.cpu_limit, os.cpu_count() or 1) * 1e9)
    if spec.memory_limit:
        host["mem_limit"] = host["memswap_limit"] = spec.memory_limit
    offline = spec.network_egress in NO_NETWORK
    if offline:
        # No network at all: the engine skips its network sandbox (0.1 s of each start here) and the
        # container keeps a namespace of its own with only loopback, whose names Orchard writes.
        host["network_mode"] = "none"
        host["binds"][str(spec.hosts_file)] = {"bind": "/etc/hosts", "mode": "ro"}
    elif spec.network_egress == "host":
        host["network_mode"] = "host"
    if spec.relay is not None:
        host["binds"][str(spec.relay.host_dir)] = {"bind": CONTAINER_DIR, "mode": "ro"}
        # Listening on the endpoint's own port (443) needs no capability inside its namespace.
        host["sysctls"] = {"net.ipv4.ip_unprivileged_port_start": "0"}
        agent_argv = [*spec.relay.argv_prefix, *agent_argv]
    options = {
        "user": spec.user, "working_dir": str(WORKSPACE),
        "environment": {"HOME": str(AGENT_HOME), **{name: environ[name] for name in spec.env_names if name in environ}},
        "labels": {LABEL_MANAGED: "1", LABEL_HOME: str(spec.home), LABEL_RUN: spec.run_id, LABEL_KEY: spec.key},
        "host_config": host,
        "network_disabled": offline,
    }
    return agent_argv, options


def _chown_written(workspace: Path, uid: int) -> None:
    """Give `uid` what was written in an overlay workspace by others: only its upper layer is
    walked (the base is `uid`'s already), and each path is changed through the merged view."""
    upper = layers_of(workspace) / "upper"
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in [*dirnames, *filenames]:
            written = os.path.join(dirpath, name)
            if os.lstat(written).st_uid != uid:
                os.lchown(workspace / os.path.relpath(written, upper), uid, uid)


@contextlib.asynccontextmanager
async def _owned_by_agent(paths: list[Path]) -> AsyncIterator[str]:
    """The `--user` to run as. A root worker lends the mounts to the image's user for the run and
    takes them back after, so its own git commands (the import) keep working on them; a tree that
    is the image user's already (an overlay of a base checkout made for it) is left as it is,
    since chowning it would copy every file up and change every ctime."""
    if os.geteuid() != 0:
        yield f"{os.geteuid()}:{os.getegid()}"
        return
    lent = [path for path in paths if path.stat().st_uid != AGENT_UID]
    for path in lent:
        await asyncio.to_thread(chown_tree, path, AGENT_UID)
    for path in paths:
        if path not in lent and is_overlay(path):  # what the worker wrote there since (a loop's verification)
            await asyncio.to_thread(_chown_written, path, AGENT_UID)
    try:
        yield f"{AGENT_UID}:{AGENT_UID}"
    finally:
        for path in lent:
            await asyncio.to_thread(chown_tree, path, 0)


@contextlib.contextmanager
def _alternates_for_container(workspace: Path) -> Iterator[None]:
    """While the container runs, the agent's `.git` borrows objects from their path inside it; then
    from theirs on the host again, for the commands that run there (verification), unless the
    agent left its `.git` out of place (then nothing of its work is taken: take_work says why)."""
    point_alternates(workspace, OBJECTS)
    try:
        yield
    finally:
        with contextlib.suppress(Untrusted, OSError):
            point_alternates(workspace, None, mend=False)


async def run_in_container(
    command: AgentCommand,
    task: TaskSpec,
    site: AgentSite,
    *,
    run_id: str,
    key: str,
) -> ProcessOutcome:
    workspace, agent_home, objects, forward_env, endpoints = site.workspace, site.agent_home, site.objects, site.forward_env, site.endpoints
    on_line, transcript, record_path, leftovers = site.on_line, site.transcript, site.record_path, site.leftovers
    image = task.docker_image or DEFAULT_IMAGE
    await ensure_image(image)
    mark("activity: image checked")
    name = container_name(run_id, key)
    agent_home.mkdir(parents=True, exist_ok=True)
    env_names = [*command.env, *(n for n in forward_env if n in os.environ and n not in command.env)]
    relay_urls = endpoints if task.network_egress == "proxy" else []
    async with _owned_by_agent([workspace, agent_home]) as user:
        uid = int(user.split(":")[0])
        async with model_relay(relay_urls, uid if os.geteuid() == 0 else None) as relay:
            spec = ContainerSpec(
                name=name, image=image, run_id=run_id, key=key, workspace=workspace, agent_home=agent_home,
                objects=objects, user=user, network_egress=task.network_egress, cpu_limit=task.cpu_limit,
                memory_limit=task.memory_limit, env_names=env_names, relay=relay,
                hosts_file=hosts_file(relay.loopback_hosts if relay else []) if task.network_egress in NO_NETWORK else None,
            )
            argv, options = container_config(spec, command.argv, {**os.environ, **command.env})
            options["host_config"] = (await call(engine)).api.create_host_config(**options["host_config"])
            with _alternates_for_container(workspace):
                return await run_container(
                    name, image, argv, options, command.stdin, timeout=task.timeout, on_line=on_line, transcript=transcript,
                    record_path=record_path, leftovers=leftovers, relay=relay.host_dir if relay else None,
                )
