"""fixed: iterate up to N times, stopping early once verification passes (AgentGate's original loop)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from workflows.loops.models import Decision, IterationContext
from workflows.loops.modes.base import BaseLoopDecider


class FixedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_iterations: int = Field(3, ge=1)


class FixedDecider(BaseLoopDecider):
    mode: ClassVar[str] = "fixed"
    Settings: ClassVar[type[BaseModel]] = FixedSettings

    def should_continue(self, context: IterationContext) -> Decision:
        report = context.verification
        # a pass on the last iteration is a completion, not a timeout
        if report is not None and report.passed:
            return self.decision(
                context, "complete", f"verification passed at {report.highest_passing} on iteration {context.iteration}", criterion="verification_pass"
            )
        if context.iteration >= context.max_iterations:
            return self.decision(context, "timeout", f"reached the maximum of {context.max_iterations} iterations", criterion="max_iterations")
        outcome = "ran no verification" if report is None else f"failed verification (highest level passed: {report.highest_passing or 'none'})"
        return self.decision(context, "continue", f"iteration {context.iteration} of {context.max_iterations} {outcome}; iterating again")


FixedLoopStrategy = FixedDecider
"""The old name of FixedDecider, kept for code written before the rename."""
