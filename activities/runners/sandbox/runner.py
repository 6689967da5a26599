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
import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.git.workspace import gateway_of
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
    """The sandbox of one agent: its own folders, what it must see of hidden ones, its network."""
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
        writable=[gateway] if gateway.is_dir() else [], shown=shown, masked=masked_in(shown), hidden=visibility.hidden,
        network=network, hosts=None if network else hosts_file(relayed_hosts),
    )


async def run_in_sandbox(
    command: AgentCommand,
    task: TaskSpec,
    site: AgentSite,
) -> ProcessOutcome:
    workspace, agent_home, objects, forward_env, endpoints = site.workspace, site.agent_home, site.objects, site.forward_env, site.endpoints
    on_line, transcript, record_path, leftovers = site.on_line, site.transcript, site.record_path, site.leftovers
    problem = sandbox_problem(task.network_egress)
    if problem is not None:
        raise SandboxUnavailable(f"sandbox runner: {problem}")
    targets = list(dict.fromkeys(endpoint(url) for url in endpoints)) if task.network_egress == "proxy" else []
    plan = plan_for(task, command.argv[0], workspace=workspace, agent_home=agent_home, objects=objects,
                    relayed_hosts=[host for host, _ in targets if host not in LOOPBACK_NAMES])
    agent_home.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(shutil.rmtree, plan.tmp, True)
    plan.tmp.mkdir(mode=0o700)
    relay = NetnsRelay(targets) if targets else None
    bwrap, *flags = bwrap_argv(plan)
    options = arguments_file([*flags, *(relay.flags() if relay else [])])
    agent = arguments_file(command.argv)
    try:
        argv = [shutil.which(bwrap) or bwrap, "--args", str(options), "--", "bash", "-c", LAUNCH, str(agent)]
        return await run_process(
            AgentCommand(argv=argv, env=command.env, stdin=command.stdin), cwd=workspace,
            timeout=task.timeout, on_line=on_line, transcript=transcript, record_path=record_path, leftovers=[*leftovers, plan.tmp],
            environ=agent_environ(agent_home, forward_env), pass_fds=(options, agent, *(relay.fds if relay else ())),
            on_start=relay.started if relay else None,
        )
    finally:
        os.close(options)
        os.close(agent)
        if relay is not None:
            relay.close()
        await asyncio.to_thread(shutil.rmtree, plan.tmp, True)


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
