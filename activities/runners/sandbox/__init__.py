"""The `sandbox` runner: each agent in a bubblewrap sandbox (Linux namespaces) on the worker's host.

What the rest of Orchard needs to know of it without starting one: whether bubblewrap works here
(probed once per process, as overlays are: a sandbox like an agent's, running `true`) and why not.
mounts.py says what an agent sees, netns.py relays the model API into a sandbox without a network,
runner.py runs one agent."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time

from activities.paths import orchard_home
from activities.runners.sandbox.system import binds_here

BWRAP = "bwrap"
INSTALL_HINT = "install it with `apt-get install bubblewrap`"
PROBE_TIMEOUT_SECONDS = 10.0
PROBE_ATTEMPTS = 3
PROBE_BACKOFF = 0.2
"""The probe asks up to 3 times, as the runner does (runner.SETUP_ATTEMPTS): making a sandbox can lose
a race with the host's mounts, and one lost race would leave the whole process without sandboxes."""
NAMESPACES = ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
"""Every sandbox's own namespaces, beside its mounts (and its network, unless egress is online or host)."""


class SandboxUnavailable(Exception):
    """bubblewrap cannot run a sandbox on this host (bad input for a run that asked for one: not retried)."""


def worker_uid() -> int:
    """This worker's uid (one name, so a test can say another without changing os for the whole process)."""
    return os.geteuid()


def privilege_flags() -> list[str]:
    """A root worker's agent keeps its uid (the workspace's files are its own) with every capability
    dropped; another user's runs in a user namespace of its own (which bubblewrap needs to mount)."""
    return ["--cap-drop", "ALL"] if worker_uid() == 0 else ["--unshare-user"]


def _probe() -> str | None:
    """Why bubblewrap cannot make a sandbox here, or None: the bubblewrap PATH finds now."""
    return probe(shutil.which(BWRAP))


@functools.cache
def probe(bwrap: str | None) -> str | None:
    """Why the bubblewrap at `bwrap` (None: not found) cannot make a sandbox, or None: asked once per
    process and path (the warm client's commands inherit its answer; a PATH without it, as a test's,
    is no answer for a PATH with it), by running `true` in one with an agent's namespaces and system
    directories (6 ms here)."""
    if bwrap is None:
        return f"bubblewrap is not installed ({INSTALL_HINT})"
    argv = [bwrap, *binds_here(orchard_home()).args, "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--remount-ro", "/", *NAMESPACES,
            "--unshare-net", "--die-with-parent", "--new-session", *privilege_flags(), "--", "true"]
    problem = None
    for attempt in range(PROBE_ATTEMPTS):  # the answer holds for the process: a lost race must not make it "no sandbox"
        time.sleep(PROBE_BACKOFF * attempt)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            problem = f"bubblewrap did not start a sandbox ({e})"
            continue
        if done.returncode == 0:
            return None
        said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        problem = f"bubblewrap cannot make a sandbox here ({said}; it needs root or unprivileged user namespaces)"
    return problem


def sandbox_problem(network_egress: str = "online") -> str | None:
    """Why an agent with this egress cannot run in a sandbox here (None: it can). `proxy` relays the
    model API into the sandbox's network namespace from the worker, which only a root worker may enter."""
    problem = _probe()
    if problem is None and network_egress == "proxy" and worker_uid() != 0:
        return f"--network-egress proxy in a sandbox needs a root worker (this one runs as uid {worker_uid()}); use offline, or --runner docker"
    return problem
