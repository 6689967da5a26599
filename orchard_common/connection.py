"""Connecting to Temporal: an explicit address, Temporal's env config, or the embedded server."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig, ClientConnectConfig

from workflows.coordination.rotation import ROTATION_WORKFLOW
from workflows.coordination.semaphores import SEMAPHORE_WORKFLOW
from workflows.sdk.visibility import SEARCH_ATTRIBUTES

CONNECT_TIMEOUT = 10.0


class ServerUnreachable(Exception):
    pass


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    """A client with Orchard's pydantic data converter; raises ServerUnreachable with the reason."""
    try:
        if address:
            settings: ClientConnectConfig = {"target_host": address, "namespace": namespace or "default"}
        else:
            settings = ClientConfig.load_client_connect_config().copy()
            settings.setdefault("target_host", "localhost:7233")
            if namespace:
                settings["namespace"] = namespace
        return await asyncio.wait_for(Client.connect(**settings, data_converter=pydantic_data_converter), CONNECT_TIMEOUT)
    except TimeoutError:
        raise ServerUnreachable(f"no answer from Temporal at {address or 'the configured address'} within {CONNECT_TIMEOUT:g}s") from None
    except RuntimeError as e:
        raise ServerUnreachable(f"cannot reach Temporal at {address or 'the configured address'}: {str(e).splitlines()[0]}") from None


async def ensure_search_attributes(client: Client) -> None:
    """Register Orchard's custom search attributes on a server that lacks them."""
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=client.namespace))
    missing = {k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in SEARCH_ATTRIBUTES if k.name not in listed.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )


def open_runs_query(task_queue: str) -> str:
    """The runs open on a task queue that need a worker serving it. Rotations are always open, and
    locks and semaphores while held: they keep no worker busy."""
    return (f'TaskQueue="{task_queue}" AND ExecutionStatus="Running" '
            f'AND WorkflowType!="{ROTATION_WORKFLOW}" AND WorkflowType!="{SEMAPHORE_WORKFLOW}"')


async def open_runs(client: Client, task_queue: str) -> int:
    """How many runs are open on a task queue (a worker serving it is still needed)."""
    return (await client.count_workflows(open_runs_query(task_queue))).count


async def has_poller(client: Client, task_queue: str) -> bool:
    """True when some worker polls the task queue for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers) > 0
