"""fixed: iterate up to N times, stopping early on AgentGate's completion detection (by default: once
verification passes; AgentGate's original loop).

After each iteration, in order:
1. the completion criteria, in the order given (`completion`, AgentGate's `completionDetection`:
   verification_pass, no_changes, ci_pass, agent_signal): met -> complete;
2. the maximum reached -> timeout;
3. with loop_detection in `completion`: AgentGate's own loop detection over the earlier
   iterations (detection.repeated_loop: the same content or the same failures 3 times, or
   back and forth 4 times) -> fail;
4. continue.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from workflows.loops.detection import REPEATS_KEPT, fingerprint, repeated_loop
from workflows.loops.models import Decision, IterationContext
from workflows.loops.modes.base import BaseLoopDecider, criterion_met, keep_recent
from workflows.loops.modes.settings import FixedSettings


class FixedDecider(BaseLoopDecider):
    mode: ClassVar[str] = "fixed"
    Settings: ClassVar[type[BaseModel]] = FixedSettings

    def initial_state(self) -> dict[str, Any]:
        return {**super().initial_state(), "fingerprints": []}

    def should_continue(self, context: IterationContext) -> Decision:
        i, completion = context.iteration, self.settings.completion
        # a pass on the last iteration is a completion, not a timeout
        for criterion in completion:
            reason = criterion_met(criterion, context)
            if reason:
                return self.decision(context, "complete", reason, criterion=criterion)
        if i >= context.max_iterations:
            return self.decision(context, "timeout", f"reached the maximum of {context.max_iterations} iterations", criterion="max_iterations")
        if "loop_detection" in completion:
            loop = repeated_loop([fp for fp in self.state["fingerprints"] if fp["iteration"] < i])
            if loop:
                return self.decision(context, "fail", f"loop detected: {loop.reason}", criterion="loop_detection", loop_type=loop.type,
                                     loop_iterations=list(loop.iterations), confidence=round(loop.confidence, 3))
        report = context.verification
        outcome = "ran no verification" if report is None else f"failed verification (highest level passed: {report.highest_passing or 'none'})"
        return self.decision(context, "continue", f"iteration {i} of {context.max_iterations} {outcome}; iterating again")

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        super().on_iteration_complete(context, decision)
        entry = fingerprint(context.iteration, context.snapshot, context.verification)
        self.state["fingerprints"] = keep_recent(self.state["fingerprints"], entry, REPEATS_KEPT)


FixedLoopStrategy = FixedDecider
"""The old name of FixedDecider, kept for code written before the rename."""
