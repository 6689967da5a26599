"""The workflow sandbox every Orchard worker and replay runs workflows in."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox. Orchard's own workflow code (the SDK, the built-in strategies, the
    coordination workflows) is deterministic, replay-tested and holds no per-run module state, so
    it is shared with the sandbox instead of re-imported for every run (that cost ~0.12 s of CPU
    per workflow); strategy files are still re-imported and checked by the sandbox."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions  # the worker's, not every command's

    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows", "pydantic", "jinja2", "markupsafe"))
