"""Starting runs: where they go (embedded server or a named one), which worker serves them."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.secrets import redact
from client import devserver
from client.connection import connect, ensure_search_attributes, external_target
from client.strategy_loader import source_digest
from client.watch import workflow_task_state
from workflows.models import RunInput
from workflows.registry import BUILTIN_STRATEGIES
from workflows.runtime import SA_OUTCOME, SA_REPO, SA_STRATEGY
from workflows.sdk import Strategy

BUILTIN_TASK_QUEUE = "orchard"
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
    return f"run_{datetime.now(timezone.utc):%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def task_queue_for(strategy: type[Strategy], spec: str) -> str:
    """Embedded mode: built-ins share one queue; a strategy file gets a queue per version of it."""
    if BUILTIN_STRATEGIES.get(strategy.name()) is strategy:
        return BUILTIN_TASK_QUEUE
    return devserver.custom_task_queue(spec, source_digest(strategy))


async def open_target(address: str | None, namespace: str | None, task_queue: str | None, ui_url: str | None) -> Target:
    """Connect to the named server, or start (or reuse) the embedded one."""
    if external_target(address):
        client = await connect(address, namespace)
        await ensure_search_attributes(client)
        target_host = address or os.environ.get("TEMPORAL_ADDRESS") or "the configured server"
        return Target(client=client, embedded=False, address=target_host, task_queue=task_queue or BUILTIN_TASK_QUEUE, ui_url=ui_url)
    settings = devserver.load_dev_settings()
    client = await devserver.ensure_server(settings)
    await ensure_search_attributes(client)
    return Target(client=client, embedded=True, address=settings.address, task_queue=task_queue or BUILTIN_TASK_QUEUE, ui_url=ui_url or settings.ui_url)


async def ensure_served(
    target: Target, task_queue: str, strategy_spec: str | None, credentials: dict[str, str] | None = None
) -> None:
    """Embedded: start the background worker for the queue (with these credentials in its
    environment). Named server: a worker must poll it."""
    if target.embedded:
        settings = devserver.load_dev_settings()
        custom = strategy_spec if task_queue != BUILTIN_TASK_QUEUE else None
        await devserver.ensure_worker(target.client, settings, task_queue, custom, credentials)
    elif not await devserver.has_poller(target.client, task_queue):
        hint = f" --strategy {strategy_spec}" if strategy_spec and strategy_spec not in BUILTIN_STRATEGIES else ""
        raise NoWorker(
            f"no worker polls task queue {task_queue!r} on {target.address}; "
            f"start one with `python worker.py --address {target.address}{hint}` (or pass --with-worker)"
        )


async def start_run(
    target: Target,
    strategy: type[Strategy],
    run_input: RunInput,
    task_queue: str,
) -> WorkflowHandle[Any, Any]:
    run_id = new_run_id()
    name = strategy.name()
    handle = await target.client.start_workflow(
        name,
        run_input,
        id=run_id,
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SA_STRATEGY, name), SearchAttributePair(SA_REPO, run_input.repo), SearchAttributePair(SA_OUTCOME, "running")]
        ),
        memo={
            "prompt": redact(run_input.prompt[:500]),
            "repo": run_input.repo,
            "base_branch": run_input.base_branch,
            "strategy_spec": run_input.strategy_spec,
            "task_queue": task_queue,
            "params": run_input.params,
            "plugin": run_input.defaults.plugin,
        },
        static_summary=redact(f"{name}: {run_input.prompt[:120]}"),
    )
    await _check_registered(target, handle, name, task_queue, run_input.strategy_spec)
    return handle


async def _check_registered(target: Target, handle: WorkflowHandle[Any, Any], name: str, task_queue: str, spec: str) -> None:
    """Say within seconds when the workers on the queue don't know this strategy, and undo the start."""
    deadline = time.monotonic() + REGISTRATION_CHECK_SECONDS
    while time.monotonic() < deadline:
        settled, failure = await workflow_task_state(handle)
        if failure and "not registered" in failure:
            await handle.terminate("no worker serves this strategy")
            await target.client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(namespace=target.client.namespace, workflow_execution=WorkflowExecution(workflow_id=handle.id))
            )
            raise NoWorker(
                f"no worker on task queue {task_queue!r} serves strategy {name!r}; "
                f"start one with `python worker.py --strategy {spec or name}`"
            )
        if settled:
            return
        await asyncio.sleep(0.2)
