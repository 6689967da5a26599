"""hybrid (the recommended default): stop on the first completion criterion met, on a loop, or when
progress stalls; a few bonus iterations past the base ones while verification keeps climbing.

After each iteration, in order:
1. the completion criteria, in the order configured: met -> complete;
2. the maximum (base + bonus + any extension) reached -> timeout;
3. a loop (the same verification results and tree 3 times, or detection.detect_loop) -> fail;
4. past the base iterations, a bonus iteration only if progress (the fraction of the configured
   levels passed) rose by at least progress_threshold in this iteration -> else timeout;
5. continue.
A timeout or fail becomes a `complete` with `partial: true` when accept_partial_after is set, this
is at least that iteration, and some level passed at some point.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.loops.detection import Loop, content_hash, detect_loop, find_completion_signal, fingerprint
from workflows.loops.models import Action, Decision, IterationContext, Level
from workflows.loops.modes.base import BaseLoopDecider, keep_recent, level_rank, progress_of

Criterion = Literal["verification_pass", "ci_pass", "no_changes", "agent_signal"]
LoopType = Literal["content_hash", "exact", "oscillating", "semantic"]

DEFAULT_COMPLETION: tuple[Criterion, ...] = ("verification_pass", "no_changes")
DEFAULT_LOOP_DETECTION: tuple[LoopType, ...] = ("content_hash", "exact", "oscillating", "semantic")

EPSILON = 1e-9
"""Progress is a ratio of small integers: a rise equal to the threshold must count as reaching it."""


class HybridSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_iterations: int = Field(3, ge=1)
    max_bonus_iterations: int = Field(2, ge=0)
    progress_threshold: float = Field(0.1, ge=0, le=1)
    completion: list[Criterion] = Field(default_factory=lambda: list(DEFAULT_COMPLETION))
    min_verification_level: Level | None = None
    """None: verification_pass needs every configured level; a level: passing up to it suffices."""
    accept_partial_after: int | None = Field(None, ge=1)
    loop_detection: list[LoopType] = Field(default_factory=lambda: list(DEFAULT_LOOP_DETECTION))
    """The loops that end the loop (detection.py); [] detects none."""


class HybridDecider(BaseLoopDecider):
    mode: ClassVar[str] = "hybrid"
    Settings: ClassVar[type[BaseModel]] = HybridSettings
    HASHES_KEPT: ClassVar[int] = 5
    FINGERPRINTS_KEPT: ClassVar[int] = 10
    REPEATS: ClassVar[int] = 3

    @property
    def max_iterations(self) -> int:
        return self.settings.base_iterations + self.settings.max_bonus_iterations

    def initial_state(self) -> dict[str, Any]:
        return {**super().initial_state(), "hashes": [], "fingerprints": []}

    def should_continue(self, context: IterationContext) -> Decision:
        i = context.iteration
        for criterion in self.settings.completion:
            reason = self._met(criterion, context)
            if reason:
                return self.decision(context, "complete", reason, criterion=criterion, partial=False)
        if i >= context.max_iterations:
            return self._give_up(context, "timeout", f"reached the maximum of {context.max_iterations} iterations", criterion="max_iterations")
        loop = self._loop(context)
        if loop:
            return self._give_up(
                context, "fail", f"loop detected: {loop.reason}", criterion="loop_detection", loop_type=loop.type, loop_iterations=list(loop.iterations)
            )
        progress = progress_of(context.verification)
        rise = progress - self.previous_progress(context)
        figures = {"progress": progress, "progress_rise": rise}
        base = self._base_iterations(context)
        if i < base:
            return self.decision(context, "continue", f"iteration {i} of {base} base iterations done at progress {progress:.2f}; iterating again", **figures)
        if rise + EPSILON < self.settings.progress_threshold:
            reason = (
                f"no progress worth a bonus iteration after iteration {i} (progress {progress:.2f}, up {rise:.2f}, "
                f"needs {self.settings.progress_threshold:.2f} past the {base} base iterations)"
            )
            return self._give_up(context, "timeout", reason, criterion="no_progress", **figures)
        return self.decision(
            context, "continue", f"iteration {i} raised progress by {rise:.2f} to {progress:.2f}; bonus iteration {i + 1} granted", bonus=True, **figures
        )

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        super().on_iteration_complete(context, decision)
        self.state["hashes"] = keep_recent(self.state["hashes"], self._hash_entry(context), self.HASHES_KEPT)
        self.state["fingerprints"] = keep_recent(self.state["fingerprints"], self._fingerprint(context), self.FINGERPRINTS_KEPT)

    def _base_iterations(self, context: IterationContext) -> int:
        """The base iterations plus any `orchard loop extend`: extended iterations are not bonus ones."""
        return self.settings.base_iterations + max(0, context.max_iterations - self.max_iterations)

    def _met(self, criterion: Criterion, context: IterationContext) -> str | None:
        """The reason `criterion` is met by this iteration, or None."""
        i, report = context.iteration, context.verification
        if criterion == "verification_pass" and report is not None:
            minimum, best = self.settings.min_verification_level, report.highest_passing
            if minimum is not None and level_rank(best) >= level_rank(minimum):
                return f"verification passed up to {best} (minimum {minimum}) on iteration {i}"
            if minimum is None and report.passed:
                return f"verification passed at {best} on iteration {i}"
        if criterion == "ci_pass" and context.ci is not None and context.ci.passed:
            return f"CI ({context.ci.command}) passed on iteration {i}"
        # an agent that failed changed nothing because it failed, not because the task is done
        if criterion == "no_changes" and not context.snapshot.changed and context.agent_error is None:
            return f"iteration {i} changed nothing (tree {context.snapshot.tree[:8]} as before)"
        if criterion == "agent_signal":
            signal = find_completion_signal(context.agent_output)
            if signal:
                return f"the agent signalled {signal} on iteration {i}"
        return None

    def _loop(self, context: IterationContext) -> Loop | None:
        hashes = keep_recent(self.state["hashes"], self._hash_entry(context), self.HASHES_KEPT)[-self.REPEATS :]
        types = self.settings.loop_detection
        if "content_hash" in types and len(hashes) == self.REPEATS and len({h["hash"] for h in hashes}) == 1:
            iterations = tuple(h["iteration"] for h in hashes)
            return Loop("content_hash", f"iterations {iterations[0]}-{iterations[-1]} ended with the same verification results and tree", iterations)
        return detect_loop(keep_recent(self.state["fingerprints"], self._fingerprint(context), self.FINGERPRINTS_KEPT), types)

    def _give_up(self, context: IterationContext, action: Action, reason: str, **metadata: Any) -> Decision:
        after, best = self.settings.accept_partial_after, self.highest_level_ever(context)
        if after is not None and context.iteration >= after and best is not None:
            reason = f"{reason}; accepting the partial result (passed up to {best}) after {context.iteration} iterations"
            return self.decision(context, "complete", reason, partial=True, instead_of=action, highest_level_ever=best, **metadata)
        return self.decision(context, action, reason, partial=False, highest_level_ever=best, **metadata)

    @staticmethod
    def _hash_entry(context: IterationContext) -> dict[str, Any]:
        return {"iteration": context.iteration, "hash": content_hash(context.verification, context.snapshot)}

    @staticmethod
    def _fingerprint(context: IterationContext) -> dict[str, Any]:
        return fingerprint(context.iteration, context.snapshot, context.verification)


HybridLoopStrategy = HybridDecider
"""The old name of HybridDecider, kept for code written before the rename."""
