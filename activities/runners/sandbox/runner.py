"""Running an agent in a bubblewrap sandbox: what it sees (mounts.py), its environment and network.

The sandbox is `bwrap` run as a local agent process (activities/runners/local.py: its output,
transcript, timeout, cancel and running record), with `--die-with-parent`: killing bwrap's process
group, as a timeout or a cancel does, kills the sandbox's first process, and with it every process
of its PID namespace; a worker that dies takes its sandboxes with it. The agent's environment is
what its plugin and the run give it (`--env`, the credentials it forwards) over a few of the
worker's variables that say how to run programs (PATH, the locale), with HOME its own home and
TMPDIR its own /tmp: nothing else of the worker's environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.git.workspace import gateway_of, remove_tree
from activities.paths import orchard_home
from activities.runners.docker.relay import LOOPBACK_NAMES, endpoint, hosts_file
from activities.runners.local import ProcessOutcome, run_process
from activities.runners.sandbox import SandboxUnavailable, sandbox_problem
from activities.runners.sandbox.mounts import SandboxPlan, Visibility, bwrap_argv, masked_in, named_paths
from activities.runners.sandbox.netns import NetnsRelay
from activities.runners.site import AgentSite
from workflows.sdk.models import TaskSpec

KEPT_VARIABLES = ("PATH", "LANG", "LANGUAGE", "TZ")
"""The worker's variables an agent gets (with every LC_*): how to find programs and speak."""
NO_NETWORK = ("offline", "proxy")

logger = logging.getLogger(__name__)


def private_tmp(agent_home: Path) -> Path:
    """The folder that is an agent's /tmp: beside its home, made anew for each run."""
    return agent_home.with_name(agent_home.name + ".tmp")


def agent_environ(agent_home: Path, forward_env: Sequence[str]) -> dict[str, str]:
    """What of the worker's environment an agent in a sandbox gets, before its command's own."""
    env = {name: value for name, value in os.environ.items() if name in KEPT_VARIABLES or name.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    user = pwd.getpwuid(os.geteuid()).pw_name if _has_user() else str(os.geteuid())
    env.update(HOME=str(agent_home), TMPDIR="/tmp", USER=user, LOGNAME=user)
    env.update({name: os.environ[name] for name in forward_env if name in os.environ})
    return env


def _has_user() -> bool:
    try:
        pwd.getpwuid(os.geteuid())
    except KeyError:
        return False
    return True


def plan_for(
    task: TaskSpec, argv0: str, *, workspace: Path, agent_home: Path, objects: Path, relayed_hosts: list[str],
) -> SandboxPlan:
    """The sandbox of one agent: the system's directories, its own folders, what it must see of others, its network."""
    visibility, shown = Visibility.with_toolchains(orchard_home())
    shown += named_paths(visibility, task.agent_command if task.plugin == "command" else None, argv0)
    if visibility.is_hidden(objects):  # the object store the workspace's .git borrows: itself only
        shown.append(objects)
    network = task.network_egress not in NO_NETWORK
    if network:  # name resolution through a file in a hidden folder (systemd-resolved's, under /run)
        shown += visibility.shown_file(Path("/etc/resolv.conf"))
    gateway = gateway_of(workspace)
    return SandboxPlan(
        workspace=workspace, agent_home=agent_home, tmp=private_tmp(agent_home),
        writable=[gateway] if gateway.is_dir() else [], shown=shown, masked=masked_in(shown), system=visibility.system,
        network=network, hosts=None if network else hosts_file(relayed_hosts),
    )


async def run_in_sandbox(
    command: AgentCommand,
    task: TaskSpec,
    site: AgentSite,
) -> ProcessOutcome:
    problem = sandbox_problem(task.network_egress)
    if problem is not None:
        raise SandboxUnavailable(f"sandbox runner: {problem}")
    targets = list(dict.fromkeys(endpoint(url) for url in site.endpoints)) if task.network_egress == "proxy" else []
    plan = plan_for(task, command.argv[0], workspace=site.workspace, agent_home=site.agent_home, objects=site.objects,
                    relayed_hosts=[host for host, _ in targets if host not in LOOPBACK_NAMES])
    site.agent_home.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, SETUP_ATTEMPTS):
        outcome, set_up = await _sandboxed(command, task, site, plan, targets)
        if set_up:
            return outcome
        logger.warning("sandbox runner: bubblewrap could not make the sandbox (attempt %d of %d), making it again: %s",
                       attempt, SETUP_ATTEMPTS, (outcome.stderr_tail.strip().splitlines() or ["no message"])[-1])
        await asyncio.sleep(SETUP_BACKOFF * attempt)  # a race with the host's mounts is over in a moment
    outcome, _ = await _sandboxed(command, task, site, plan, targets)
    return outcome


SETUP_ATTEMPTS = 3
"""How many times bubblewrap is asked to make an agent's sandbox before the run fails with its
message: making one can lose a race with the host (a mount under a folder it binds read-only going
away while it remounts them), which says nothing about the agent."""
SETUP_BACKOFF = 0.2
"""Seconds before the second attempt (twice that before the third)."""


async def _sandboxed(command: AgentCommand, task: TaskSpec, site: AgentSite, plan: SandboxPlan,
                     targets: list[tuple[str, int]]) -> tuple[ProcessOutcome, bool]:
    """One sandbox for the agent, run to its end: its outcome, and whether bubblewrap made it (the
    agent ran). bubblewrap says its sandbox's first process exited on its status descriptor; a
    sandbox it failed to make says nothing there (nor does one killed by a timeout or a cancel)."""
    await remove_tree(plan.tmp)  # an earlier attempt's
    plan.tmp.mkdir(mode=0o700)
    relay = NetnsRelay(targets) if targets else None
    bwrap, *flags = bwrap_argv(plan)
    status_read, status_write = os.pipe()
    options = arguments_file([*flags, "--json-status-fd", str(status_write), *(relay.flags() if relay else [])])
    agent = arguments_file(command.argv)
    try:
        argv = [shutil.which(bwrap) or bwrap, "--args", str(options), "--", "bash", "-c", LAUNCH, str(agent)]
        outcome = await run_process(
            AgentCommand(argv=argv, env=command.env, stdin=command.stdin), cwd=site.workspace,
            timeout=task.timeout, on_line=site.on_line, transcript=site.transcript, record_path=site.record_path,
            leftovers=[*site.leftovers, plan.tmp], environ=agent_environ(site.agent_home, site.forward_env),
            pass_fds=(options, agent, status_write, *(relay.fds if relay else ())), on_start=relay.started if relay else None,
            contained=True,  # bwrap's PID namespace: what the agent left running died with its first process
        )
        os.close(status_write)
        status_write = -1
        return outcome, outcome.timed_out or b'"exit-code"' in _read_all(status_read)
    finally:
        for fd in (options, agent, status_read, status_write):
            if fd >= 0:
                os.close(fd)
        if relay is not None:
            relay.close()
        await remove_tree(plan.tmp)


def _read_all(fd: int) -> bytes:
    """What is in a pipe whose writers are all closed."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


LAUNCH = 'readarray -d "" -t argv <&"$0"; eval "exec $0<&-"; exec "${argv[@]}"'
"""How the sandbox's first process becomes the agent: its argv read from a file (whose descriptor
is $0, closed before the agent starts). bubblewrap's options come from a file too (`--args`):
so no process but the agent's own has the agent's command line, as with the local runner (a
`pgrep` of the agent's command finds the agent, not bubblewrap's two processes as well)."""


def arguments_file(args: list[str]) -> int:
    """`args`, NUL-separated, in a file only this process and its children hold (a memfd: no
    size limit, nothing on disk)."""
    fd = os.memfd_create("orchard-sandbox-args")
    try:
        os.write(fd, b"".join(os.fsencode(arg) + b"\0" for arg in args))
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
