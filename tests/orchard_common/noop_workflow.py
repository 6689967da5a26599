"""A workflow that does nothing, for tests of the sandbox's instances (the sandbox imports its module afresh)."""

from temporalio import workflow


@workflow.defn(name="sandbox-noop")
class NoopWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None
