"""The sandbox's instances (orchard_common/sandbox.py's quick_instance_class) answer as the SDK's
own: the same serialization and store contexts for every kind of payload, the workflow made from
its module as before, with each source string compiled once."""

from __future__ import annotations

from types import SimpleNamespace

from temporalio import workflow
from temporalio.api.enums.v1 import CommandType
from temporalio.worker import WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox._runner import _fake_info, _Instance

from orchard_common import sandbox
from orchard_common.sandbox import quick_instance_class, sandbox_runner
from tests.orchard_common.noop_workflow import NoopWorkflow


def _details() -> WorkflowInstanceDetails:
    """As the SDK's runner makes them to check a workflow class."""
    import temporalio.converter
    from temporalio.api.common.v1 import Payloads
    from temporalio.api.failure.v1 import Failure

    return WorkflowInstanceDetails(
        payload_converter_factory=temporalio.converter.DataConverter.default._new_payload_converter,
        failure_converter_class=temporalio.converter.DataConverter.default.failure_converter_class,
        interceptor_classes=[], defn=workflow._Definition.must_from_class(NoopWorkflow), info=_fake_info, randomness_seed=-1,
        extern_functions={}, disable_eager_activity_execution=False, worker_level_failure_exception_types=[], patch_activation_callback=None,
        last_completion_result=Payloads(), last_failure=Failure(),
    )


async def test_a_sandboxed_instance_answers_each_payload_s_context_as_the_sdk_s_own_does():
    runner = sandbox_runner()
    sandbox._compiled.cache_clear()
    first, second = runner.create_instance(_details()), runner.create_instance(_details())
    assert type(first) is quick_instance_class() and isinstance(first, _Instance)
    assert sandbox._compiled.cache_info().misses == 2 and sandbox._compiled.cache_info().hits == 2  # the import and the instance, once each

    inner = second.globals_and_locals["__temporal_in_sandbox"].instance
    inner._pending_activities[7] = SimpleNamespace(_input=SimpleNamespace(activity="run_instance", activity_id="7", task_queue="q"))
    inner._pending_child_workflows[8] = SimpleNamespace(_input=SimpleNamespace(id="child-8", workflow="orchard-instances"))
    asked = [None, *(CommandInfo(command_type=kind, command_seq=seq) for kind, seq in (
        (CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, 7), (CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, 9),
        (CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION, 8), (CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION, 1)))]
    contexts = [second.get_serialization_context(info) for info in asked]
    assert contexts == [_Instance.get_serialization_context(second, info) for info in asked]
    assert [second.get_external_store_context(info) for info in asked] == [_Instance.get_external_store_context(second, info) for info in asked]
    assert contexts[1].activity_id == "7" and contexts[3].workflow_id == "child-8"  # the pending commands were read
    assert not second.importer.restriction_context.is_runtime  # left as it was found
