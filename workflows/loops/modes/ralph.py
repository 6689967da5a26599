"""ralph (Geoffrey Huntley's Ralph Wiggum technique): loop until the agent says it is done.

After each iteration, in order:
1. the maximum reached -> timeout;
2. a completion signal in the agent's output (COMPLETION_SIGNALS, as whole words, in any case as
   AgentGate's ralph reads them, but a bare DONE only in capitals), from min_iterations on -> complete;
3. with loop_detection in `completion`: this output and the window_size outputs before it, each of
   those at least similarity_threshold similar to this one (Jaccard over words; empty outputs are
   left out) -> fail, the agent is repeating itself;
4. the other criteria of `completion`, in the order given (verification_pass unless
   skip_verification, no_changes, ci_pass), from min_iterations on -> complete;
5. continue.
`completion` is AgentGate's completionDetection (default: verification_pass, loop_detection).
A run begun before AgentGate's rules (`legacy`) compares window_size - 1 earlier outputs and reads
signals in capitals only: its history replays.
With state_dir, the loop's state and metrics are written into the workspace before each
iteration, for the agent to read (the durable state is `get_state`, restored by the loop).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from workflows.loops.detection import find_completion_signal, similarity
from workflows.loops.models import Decision, IterationContext
from workflows.loops.modes.base import BaseLoopDecider, criterion_met, keep_recent
from workflows.loops.modes.settings import RalphSettings

OUTPUT_KEPT_CHARS = 4000
"""Of each output kept for similarity, the end (where an agent sums up); the current output is
cut the same way, so a restored decider compares exactly what the original did."""


class RalphDecider(BaseLoopDecider):
    mode: ClassVar[str] = "ralph"
    Settings: ClassVar[type[BaseModel]] = RalphSettings

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.runs_verification = not self.settings.skip_verification

    def initial_state(self) -> dict[str, Any]:
        return {**super().initial_state(), "outputs": [], "last_similarity": None}

    def should_continue(self, context: IterationContext) -> Decision:
        i, minimum, completion = context.iteration, self.settings.min_iterations, self.settings.completion
        window = self._similarities(context)
        figures = {"similarity": window[0] if window else None}
        if i >= context.max_iterations:
            return self.decision(context, "timeout", f"reached the maximum of {context.max_iterations} iterations", criterion="max_iterations", **figures)
        signal = find_completion_signal(context.agent_output, ignore_case=not self.legacy)
        if signal and i >= minimum:
            return self.decision(context, "complete", f"the agent signalled {signal} on iteration {i}", criterion="agent_signal", signal=signal, **figures)
        threshold, size = self.settings.similarity_threshold, self._window()
        if "loop_detection" in completion and len(window) == size and all(s >= threshold for s in window):
            reason = f"the agent repeated itself: its output is at least {min(window):.2f} similar to each of the {size} before it (threshold {threshold:.2f})"
            return self.decision(context, "fail", reason, criterion="loop_detection", loop_type="similarity", **figures)
        for criterion in completion:
            if criterion == "verification_pass" and not self.runs_verification:
                continue
            met = criterion_met(criterion, context, legacy=self.legacy) if i >= minimum and criterion != "agent_signal" else None
            if met:
                return self.decision(context, "complete", met, criterion=criterion, **figures)
        if signal:
            reason = f"the agent signalled {signal} on iteration {i}, before the minimum of {minimum} iterations; iterating again"
        else:
            reason = f"iteration {i} of {context.max_iterations} ended without a completion signal; iterating again"
        return self.decision(context, "continue", reason, **figures)

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        super().on_iteration_complete(context, decision)
        similarities = self._similarities(context)
        self.state["last_similarity"] = similarities[0] if similarities else None
        output = _kept(context)
        if output is not None:
            self.state["outputs"] = keep_recent(self.state["outputs"], {"iteration": context.iteration, "output": output}, self.settings.window_size)

    def workspace_files(self, iteration: int) -> dict[str, str]:
        state_dir = self.settings.state_dir
        if state_dir is None:
            return {}
        metrics = {
            "iteration": iteration,
            "iterations_done": sum(self.state["decisions"].values()),
            "decisions": self.state["decisions"],
            "last_similarity": self.state["last_similarity"],
            "loop_count": self.state["loop_count"],
            "highest_level": self.state["highest_level"],
        }
        return {
            f"{state_dir}/loop-state.json": _json({"iteration": iteration, "mode": self.mode, "state": self.get_state()}),
            f"{state_dir}/metrics.json": _json(metrics),
        }

    def _window(self) -> int:
        """How many earlier outputs a loop compares this one with: AgentGate's window_size (before
        its rules, window_size - 1: the window counted this output)."""
        return self.settings.window_size - 1 if self.legacy else self.settings.window_size

    def _similarities(self, context: IterationContext) -> list[float]:
        """This iteration's output against each earlier one kept, newest first (none for an empty output)."""
        current = _kept(context)
        if current is None:
            return []
        earlier = [e["output"] for e in self.state["outputs"] if e["iteration"] < context.iteration][-self._window() :]
        return [similarity(current, output) for output in reversed(earlier)]


def _kept(context: IterationContext) -> str | None:
    """The part of the agent's output similarity looks at; None for an empty output (an agent that
    failed said nothing: AgentGate neither compares nor keeps it, so silence is never a loop)."""
    output = context.agent_output
    return output[-OUTPUT_KEPT_CHARS:] if output.strip() else None


def _json(value: Any) -> str:
    """Deterministic text: the same state writes the same bytes, on every replay."""
    return json.dumps(value, sort_keys=True, indent=2) + "\n"


RalphLoopStrategy = RalphDecider
"""The old name of RalphDecider, kept for code written before the rename."""
