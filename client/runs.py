"""Runs on a server: where they go (embedded server or a named one), which worker serves them,
starting one, and finding one again by its id."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.git.prompts import by_reference
from activities.secrets import redact
from client.embedded.background_workers import custom_task_queue, ensure_worker, start_worker
from client.embedded.dev_settings import load_dev_settings
from client.embedded.server import ensure_server
from client.errors import UsageError
from client.snapshots import workflow_task_state
from client.target import external_target
from orchard_common.config import DEFAULT_TASK_QUEUE, load_config
from orchard_common.connection import connect, ensure_search_attributes, has_poller
from orchard_common.strategy_loader import modules_digest, source_digest
from workflows.sdk.models import RunInput, RunResult
from workflows.sdk.strategy import Strategy
from workflows.sdk.visibility import run_memo, run_search_attributes
from workflows.strategies import BUILTIN_STRATEGIES

REGISTRATION_CHECK_SECONDS = 10.0


class NoWorker(Exception):
    """No worker serves the run's task queue or strategy."""


@dataclass
class Target:
    """A connected server, and how runs on it are served and linked to."""

    client: Client
    embedded: bool
    address: str
    task_queue: str
    ui_url: str | None = None

    def ui_link(self, run_id: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url}/namespaces/{self.client.namespace}/workflows/{run_id}"


def new_run_id() -> str:
    return f"run_{datetime.now(UTC):%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def task_queue_for(strategy: type[Strategy], spec: str, modules: list[str] | None = None) -> str:
    """Embedded mode: built-ins share one queue; a strategy file, or a run that needs modules
    imported (a custom loop strategy), gets a queue per version of them."""
    if modules:
        return custom_task_queue(" ".join([spec, *modules]), source_digest(strategy) + modules_digest(modules))
    if BUILTIN_STRATEGIES.get(strategy.name()) is strategy:
        return DEFAULT_TASK_QUEUE
    return custom_task_queue(spec, source_digest(strategy))


async def open_target(address: str | None, namespace: str | None, task_queue: str | None, ui_url: str | None) -> Target:
    """Connect to the named server, or start (or reuse) the embedded one."""
    if external_target(address):
        client = await connect(address, namespace)
        await ensure_search_attributes(client)
        target_host = address or os.environ.get("TEMPORAL_ADDRESS") or "the configured server"
        return Target(client=client, embedded=False, address=target_host, task_queue=task_queue or DEFAULT_TASK_QUEUE, ui_url=ui_url)
    settings = load_dev_settings()
    client = await ensure_server(settings)
    await ensure_search_attributes(client)
    return Target(client=client, embedded=True, address=settings.address, task_queue=task_queue or DEFAULT_TASK_QUEUE, ui_url=ui_url or settings.ui_url)


def start_served(task_queue: str, strategy_spec: str | None, credentials: dict[str, str] | None = None, modules: list[str] | None = None,
                 early_imports: list[str] | None = None, processes: int | None = None) -> None:
    """Embedded: start the queue's background worker now, before its server answers, so that a
    cold start brings both up at once (`ensure_served` then waits for it to poll). `early_imports`:
    what the run's instances will import, imported while the worker waits for its server. `processes`:
    worker.processes of the run's orchard.yaml."""
    start_worker(load_dev_settings(), task_queue, _custom(task_queue, strategy_spec), credentials, modules, early_imports, processes)


def _custom(task_queue: str, strategy_spec: str | None) -> str | None:
    """The strategy file a worker of its own serves (None: the built-ins' queue)."""
    return strategy_spec if task_queue != DEFAULT_TASK_QUEUE else None


async def ensure_served(
    target: Target, task_queue: str, strategy_spec: str | None, credentials: dict[str, str] | None = None, modules: list[str] | None = None,
    processes: int | None = None,
) -> None:
    """Embedded: start the background worker for the queue (with these credentials in its
    environment, importing these modules, in `processes` processes). Named server: a worker must poll it."""
    if target.embedded:
        await ensure_worker(target.client, load_dev_settings(), task_queue, _custom(task_queue, strategy_spec), credentials, modules, processes)
    elif not await has_poller(target.client, task_queue):
        hint = f" --strategy {strategy_spec}" if strategy_spec and strategy_spec not in BUILTIN_STRATEGIES else ""
        hint += "".join(f" --module {m}" for m in modules or [])
        raise NoWorker(
            f"no worker polls task queue {task_queue!r} on {target.address}; "
            f"start one with `python worker.py --address {target.address}{hint}` (or pass --with-worker)"
        )


async def start_run(
    target: Target,
    strategy: type[Strategy],
    run_input: RunInput,
    task_queue: str,
    serving: asyncio.Future[None] | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the run. `serving`: its worker, coming up meanwhile; when that fails, the run is
    undone (terminated and deleted) and its error raised."""
    fixed = strategy.LAUNCH.run_id(run_input.params, run_input.repo)
    run_id = fixed or new_run_id()
    name = strategy.name()
    run_input = run_input.model_copy(update={"prompt": await by_reference(run_input.repo, run_input.prompt)})
    try:
        handle = await target.client.start_workflow(
            name,
            run_input,
            id=run_id,
            task_queue=task_queue,
            search_attributes=run_search_attributes(name, run_input.repo),
            memo=run_memo(run_input, task_queue, redact(run_input.prompt[:500]) or "", modules=strategy.LAUNCH.worker_modules(run_input.params)),
            static_summary=redact(f"{name}: {run_input.prompt[:120]}"),
        )
    except WorkflowAlreadyStartedError:
        raise UsageError(f"{run_id} is already running (one at a time on this repository): `orchard watch {run_id}`, `orchard cancel {run_id}`") from None
    if serving is not None:
        try:
            await asyncio.shield(serving)  # shared by the runs of one command: each waits, none cancels it
        except BaseException:
            await _undo_start(target, handle, "its worker did not start")
            raise
    await _check_registered(target, handle, name, task_queue, run_input.strategy_spec)
    return handle


async def _check_registered(target: Target, handle: WorkflowHandle[Any, Any], name: str, task_queue: str, spec: str) -> None:
    """Say within seconds when the workers on the queue don't know this strategy, and undo the start."""
    deadline = time.monotonic() + REGISTRATION_CHECK_SECONDS
    while time.monotonic() < deadline:
        settled, failure = await workflow_task_state(handle)
        if failure and "not registered" in failure:
            await _undo_start(target, handle, "no worker serves this strategy")
            raise NoWorker(
                f"no worker on task queue {task_queue!r} serves strategy {name!r}; "
                f"start one with `python worker.py --strategy {spec or name}`"
            )
        if settled:
            return
        await asyncio.sleep(0.2)


async def _undo_start(target: Target, handle: WorkflowHandle[Any, Any], reason: str) -> None:
    """A run that must not have started, undone: terminated at once, and deleted (which the server
    does in the background: the dev server's list shows it, terminated, for about half a minute)."""
    await handle.terminate(reason)
    await target.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=target.client.namespace, workflow_execution=WorkflowExecution(workflow_id=handle.id))
    )


async def target_for(address: str | None, namespace: str | None, config_path: str | None) -> Target:
    """The server a command about existing runs talks to: flags, then orchard.yaml, then the embedded one."""
    config = load_config(config_path)
    return await open_target(address or config.temporal.address, namespace or config.temporal.namespace, None, None)


@dataclass
class FoundRun:
    """A run looked up by its id: its handle, its description and its memo."""

    handle: WorkflowHandle[Any, RunResult]
    desc: WorkflowExecutionDescription
    memo: Mapping[str, Any]

    @property
    def running(self) -> bool:
        return self.desc.status == WorkflowExecutionStatus.RUNNING


async def find_run(target: Target, run_id: str) -> FoundRun:
    handle = target.client.get_workflow_handle(run_id, result_type=RunResult)
    try:
        desc = await handle.describe()
    except RPCError as e:
        if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise  # the server's own trouble (a full disk, say), said as such by the command
        raise UsageError(f"no run {run_id!r} on {target.address} ({str(e).splitlines()[0]}); see `orchard list`") from None
    return FoundRun(handle, desc, await desc.memo())
