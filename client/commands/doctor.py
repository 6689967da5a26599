"""`orchard doctor`: what Orchard needs on this host, checked one line at a time.

Temporal, the Docker engine and the agent image, whether agents can run in a sandbox here (the
default runner: bubblewrap) or only as local processes, the agent CLIs (here and in the image),
which credentials are set (names only, never values), git, free disk under $ORCHARD_HOME,
whether workspaces are copy-on-write overlays here, and how long a base checkout outlives its last
workspace (ORCHARD_BASE_GRACE) with the bases kept now.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from activities.agents.claude_code import ClaudeCodePlugin
from activities.agents.codex import CodexPlugin
from activities.git.overlay import base_grace_setting, bases_dir, kept_bases, overlay_unavailable
from activities.paths import orchard_home
from activities.runners.docker import BUILD_HINT, DEFAULT_IMAGE, DockerError
from activities.runners.docker.engine import call, engine, engine_version
from activities.runners.docker.status import engine_problem, image_created
from activities.runners.sandbox import BWRAP, sandbox_problem
from client.embedded.dev_settings import DevServerError, load_dev_settings, temporal_binary
from client.embedded.server import try_connect
from client.errors import EXIT_FAILURE, EXIT_SUCCESS
from client.target import external_target
from orchard_common.config import load_config
from orchard_common.connection import ServerUnreachable, connect

CREDENTIALS = (
    "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL",
)
DISK_WARN_BYTES = 5 * 1024**3
DISK_FAIL_BYTES = 1 * 1024**3
AGENT_CLIS = (ClaudeCodePlugin, CodexPlugin)

Level = Literal["ok", "warn", "fail"]


@dataclass
class Check:
    level: Level
    name: str
    detail: str


async def _version(*argv: str) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (TimeoutError, OSError):
        return None
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else None


async def check_temporal(address: str | None, namespace: str | None) -> Check:
    """A named server must answer; the embedded one may be down (the next run starts it)."""
    if external_target(address):
        try:
            client = await connect(address, namespace)
        except ServerUnreachable as e:
            return Check("fail", "temporal", str(e))
        return Check("ok", "temporal",
                     f"reachable at {address or os.environ.get('TEMPORAL_ADDRESS') or 'the configured server'} (namespace {client.namespace})")
    try:
        binary = temporal_binary()
    except DevServerError as e:
        return Check("fail", "temporal", str(e))
    settings = load_dev_settings()
    if await try_connect(settings) is not None:
        return Check("ok", "temporal", f"embedded server running at {settings.address}" + (f", UI {settings.ui_url}" if settings.ui_url else ""))
    return Check("ok", "temporal", f"embedded server not running; `orchard run` starts it ({binary})")


async def check_docker(image: str, sandboxed: bool) -> list[Check]:
    problem = await engine_problem()
    if problem:
        return [Check("warn", "docker", f"{problem}; " + ("the docker runner cannot be used" if sandboxed else "agents can only run locally (not isolated)"))]
    checks = [Check("ok", "docker", "engine " + await engine_version())]
    created = await image_created(image)
    if created is None:
        return [*checks, Check("warn", "image", f"{image} is missing; {BUILD_HINT}")]
    checks.append(Check("ok", "image", f"{image} (created {created[:19]})"))
    for plugin in AGENT_CLIS:
        try:
            version = await call(lambda exe=plugin.executable: engine().containers.run(image, [exe, "--version"], remove=True,
                                                                                       network_mode="none", stderr=True))
            checks.append(Check("ok", f"image {plugin.executable}", version.decode(errors="replace").strip().splitlines()[-1]))
        except DockerError as e:
            checks.append(Check("warn", f"image {plugin.executable}", f"not usable in {image}: {e}"))
    return checks


async def check_sandbox() -> Check:
    """Whether agents run in a sandbox here (the default runner where bubblewrap works), or else as
    local processes, not isolated, and why."""
    problem = await asyncio.to_thread(sandbox_problem)
    if problem:
        return Check("warn", "sandbox", f"{problem}; by default agents run as local processes, NOT isolated (or in docker containers, for "
                                        "claude-code and codex, where the engine and image are)")
    version = await _version(BWRAP, "--version")
    return Check("ok", "sandbox", f"{version or BWRAP}: the default runner here (each agent writes only its workspace and its own home)")


async def check_clis() -> list[Check]:
    checks = []
    for plugin in AGENT_CLIS:
        path = shutil.which(plugin.executable)
        version = await _version(path, "--version") if path else None
        if version:
            checks.append(Check("ok", plugin.executable, f"{version} ({path})"))
        else:
            checks.append(Check("warn", plugin.executable, f"not installed on this host; `{plugin.install_hint}` (needed for --runner local)"))
    git_version = await _version("git", "--version")
    checks.append(Check("ok", "git", git_version) if git_version else Check("fail", "git", "git is not installed"))
    return checks


def check_credentials() -> list[Check]:
    have = [name for name in CREDENTIALS if os.environ.get(name)]
    missing = [name for name in CREDENTIALS if not os.environ.get(name)]
    detail = ("set: " + ", ".join(have) if have else "none set") + ("; not set: " + ", ".join(missing) if missing else "")
    level: Level = "ok" if have else "warn"
    return [Check(level, "credentials", detail + " (values are never shown)")]


def check_disk() -> Check:
    home = orchard_home()
    probe = home if home.exists() else home.parent
    free = shutil.disk_usage(probe).free
    level: Level = "fail" if free < DISK_FAIL_BYTES else "warn" if free < DISK_WARN_BYTES else "ok"
    return Check(level, "disk", f"{free / 1024**3:.1f} GiB free at {probe}")


def check_workspaces() -> Check:
    """Copy-on-write overlays of a shared checkout, or full checkouts (and why), for a worker here."""
    why = overlay_unavailable()
    if why is None:
        return Check("ok", "workspaces", f"copy-on-write overlays of one checkout per commit ({bases_dir()})")
    return Check("warn", "workspaces", f"full checkouts, one per instance: {why}")


def _disk_usage(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (as `du`; links not followed)."""
    used = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            with contextlib.suppress(OSError):
                used += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return used


def _size(used: int) -> str:
    return f"{used / 1024**2:.1f} MiB" if used < 1024**3 else f"{used / 1024**3:.1f} GiB"


def check_base_grace() -> Check:
    """ORCHARD_BASE_GRACE as this shell sets it (a background worker has the value of the shell that
    started it; another host's worker, its own), and the bases kept now on this host, with their size."""
    grace, problem = base_grace_setting()
    kept = kept_bases()
    sizes = [_disk_usage(base) for base, _ in kept]
    each = [f"{base.name} ({_size(size)}, idle {idle:.0f} s)" for (base, idle), size in zip(kept, sizes, strict=True)]
    now = f"{len(kept)} kept now, {_size(sum(sizes))}: {', '.join(each)}" if kept else "none kept now"
    source = "ORCHARD_BASE_GRACE" if os.environ.get("ORCHARD_BASE_GRACE", "").strip() else "the default; ORCHARD_BASE_GRACE sets it"
    setting = problem or f"a base checkout outlives its last workspace {grace:g} s ({source})"
    return Check("warn" if problem else "ok", "base grace", f"{setting}; {now} ({bases_dir()})")


async def run_checks(address: str | None, namespace: str | None, image: str) -> list[Check]:
    sandbox = await check_sandbox()
    temporal, docker_checks, cli_checks = await asyncio.gather(check_temporal(address, namespace), check_docker(image, sandbox.level == "ok"), check_clis())
    grace = await asyncio.to_thread(check_base_grace)  # sizing the bases reads every folder of their trees
    return [temporal, *docker_checks, sandbox, *cli_checks, *check_credentials(), check_disk(), check_workspaces(), grace]


async def cmd_doctor(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    image = args.docker_image or config.runner.docker_image or DEFAULT_IMAGE
    checks = await run_checks(args.address or config.temporal.address, args.namespace or config.temporal.namespace, image)
    if args.output == "json":
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.level:<4}  {c.name:<{width}}  {c.detail}")
    return EXIT_FAILURE if any(c.level == "fail" for c in checks) else EXIT_SUCCESS
