"""hybrid (the recommended default): stop on the first completion criterion met, on a loop, or at
the maximum; base iterations, then bonus ones up to the maximum (the seed's and AgentGate's
hybrid).

After each iteration, in order:
1. the completion criteria, in the order configured: met -> complete;
2. the maximum (base + bonus + any extension) reached -> timeout;
3. a loop (the same verification results and tree 3 times, or detection.detect_loop) -> fail;
4. continue: a base iteration, or past them a bonus one.
At the maximum or on a loop after the base iterations, the decision says whether the result made
progress (`partial_acceptable`: some level passed, and the best fraction of levels passed reached
progress_threshold; AgentGate's partialAccept). A timeout or fail becomes a `complete` with
`partial: true` when accept_partial_after is set (the seed's acceptPartialAfter), this is at least
that iteration, and some level passed at some point.

A run begun before these rules (`legacy`) ends past the base iterations unless progress rose by
progress_threshold in the iteration, and its ci_pass needs a ci command: its history replays.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from workflows.loops.detection import Loop, content_hash, detect_loop, fingerprint
from workflows.loops.models import Action, Decision, IterationContext
from workflows.loops.modes.base import BaseLoopDecider, criterion_met, keep_recent, progress_of
from workflows.loops.modes.settings import HybridSettings

EPSILON = 1e-9
"""Progress is a ratio of small integers: a rise equal to the threshold must count as reaching it."""


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
        return {**super().initial_state(), "hashes": [], "fingerprints": [], "best_progress": 0.0}

    def should_continue(self, context: IterationContext) -> Decision:
        i = context.iteration
        for criterion in self.settings.completion:
            reason = criterion_met(criterion, context, self.settings.min_verification_level, self.legacy)
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
        if not self.legacy:
            return self.decision(
                context, "continue", f"iteration {i} done at progress {progress:.2f} (up {rise:.2f}); bonus iteration {i + 1} of {context.max_iterations}",
                bonus=True, **figures,
            )
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
        self.state["best_progress"] = self._best_progress(context)

    def _base_iterations(self, context: IterationContext) -> int:
        """The base iterations plus any `orchard loop extend`: extended iterations are not bonus ones."""
        return self.settings.base_iterations + max(0, context.max_iterations - self.max_iterations)

    def _loop(self, context: IterationContext) -> Loop | None:
        hashes = keep_recent(self.state["hashes"], self._hash_entry(context), self.HASHES_KEPT)[-self.REPEATS :]
        types = self.settings.loop_detection
        if "content_hash" in types and len(hashes) == self.REPEATS and len({h["hash"] for h in hashes}) == 1:
            iterations = tuple(h["iteration"] for h in hashes)
            return Loop("content_hash", f"iterations {iterations[0]}-{iterations[-1]} ended with the same verification results and tree", iterations)
        return detect_loop(keep_recent(self.state["fingerprints"], self._fingerprint(context), self.FINGERPRINTS_KEPT), types)

    def _give_up(self, context: IterationContext, action: Action, reason: str, **metadata: Any) -> Decision:
        after, best = self.settings.accept_partial_after, self.highest_level_ever(context)
        # AgentGate's partialAccept: past the base iterations with progress made
        acceptable = (context.iteration >= self.settings.base_iterations and best is not None
                      and self._best_progress(context) + EPSILON >= self.settings.progress_threshold)
        if after is not None and context.iteration >= after and best is not None:
            reason = f"{reason}; accepting the partial result (passed up to {best}) after {context.iteration} iterations"
            return self.decision(context, "complete", reason, partial=True, instead_of=action, highest_level_ever=best, partial_acceptable=acceptable,
                                 **metadata)
        if acceptable and metadata.get("criterion") == "max_iterations":
            reason = f"{reason} with progress (passed up to {best})"
        return self.decision(context, action, reason, partial=False, highest_level_ever=best, partial_acceptable=acceptable, **metadata)

    def _best_progress(self, context: IterationContext) -> float:
        """The most progress of any iteration so far, this one included."""
        recorded = [e["progress"] for e in self.state["progress"] if e["iteration"] < context.iteration]
        return max([self.state["best_progress"], progress_of(context.verification), *recorded])

    @staticmethod
    def _hash_entry(context: IterationContext) -> dict[str, Any]:
        return {"iteration": context.iteration, "hash": content_hash(context.verification, context.snapshot)}

    @staticmethod
    def _fingerprint(context: IterationContext) -> dict[str, Any]:
        return fingerprint(context.iteration, context.snapshot, context.verification)


HybridLoopStrategy = HybridDecider
"""The old name of HybridDecider, kept for code written before the rename."""
