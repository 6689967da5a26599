"""Custom loop strategies written to AgentGate's LoopStrategy interface, ported to Python names (the
way an AgentGate user's strategy module reads): async lifecycle methods, a decision dict of
shouldContinue / reason / action / metadata, `Strategy` as the module's export."""

import asyncio

LEVELS = ("l0_result", "l1_result", "l2_result", "l3_result")


def highest_level(verification):
    """The rank of the highest level passed in a row from L0 (-1: none)."""
    rank = -1
    for i, name in enumerate(LEVELS):
        result = getattr(verification, name, None) if verification is not None else None
        if result is None or not result.passed:
            break
        rank = i
    return rank


class GreenOrGiveUp:
    """Stops when verification passes, gives up after `patience` iterations without a higher level,
    or at the maximum. Records every call it gets (method, iteration)."""

    name = "green-or-give-up"
    mode = "custom"

    def __init__(self, params=None):
        params = params or {}
        self.patience = params.get("patience", 3)
        self.fail_in = params.get("fail_in")
        self.config = None
        self.calls = []
        self.shas = []
        self.best = -1
        self.stale = 0

    def _record(self, method, context=None):
        self.calls.append([method, context.state.iteration if context is not None else None])
        if self.fail_in == method:
            raise RuntimeError(f"{method} failed on purpose")

    async def initialize(self, config):
        self._record("initialize")
        self.config = config

    async def on_loop_start(self, context):
        self._record("on_loop_start", context)

    async def on_iteration_start(self, context):
        self._record("on_iteration_start", context)

    async def should_continue(self, context):
        self._record("should_continue", context)
        iteration, verification = context.state.iteration, context.current_verification
        calls = len(self.calls)
        if verification is not None and verification.passed:
            return {"shouldContinue": False, "reason": "Verification passed", "action": "stop", "metadata": {"iteration": iteration, "calls": calls}}
        level = highest_level(verification)
        stale = self.stale + 1 if level <= self.best else 0
        if stale >= self.patience:
            return {"shouldContinue": False, "reason": f"No new level for {stale} iterations", "action": "stop", "metadata": {"stale": stale, "calls": calls}}
        if iteration >= context.state.max_iterations:
            return {"shouldContinue": False, "reason": "Max iterations reached", "action": "stop", "metadata": {"iteration": iteration, "calls": calls}}
        return {"shouldContinue": True, "reason": "Still climbing", "action": "continue", "metadata": {"level": level, "stale": stale, "calls": calls}}

    async def on_iteration_end(self, context, decision):
        self._record("on_iteration_end", context)
        level = highest_level(context.current_verification)
        self.stale = self.stale + 1 if level <= self.best else 0
        self.best = max(self.best, level)
        self.shas.append(context.current_snapshot.after_sha)

    async def on_loop_end(self, context, final_decision):
        self._record("on_loop_end", context)
        self.calls.append(["final", final_decision["reason"]])

    def get_progress(self, context):
        iteration, total = context.state.iteration, context.state.max_iterations
        return {"iteration": iteration, "total_iterations": total, "progress_percent": 100 * iteration / total,
                "trend": "improving" if self.stale == 0 else "stagnant"}

    def detect_loop(self, context):
        repeated = sorted({sha for sha in self.shas if self.shas.count(sha) > 1})
        patterns = [{"pattern_type": "exact", "description": f"commit {sha[:8]} again"} for sha in repeated]
        return {"loop_detected": bool(patterns), "loop_type": "exact" if patterns else None, "repeat_patterns": patterns}

    def reset(self):
        self.calls, self.shas, self.best, self.stale = [], [], -1, 0


Strategy = GreenOrGiveUp


class HalfDone:
    """An AgentGate strategy missing most of the interface."""

    name = "half-done"
    mode = "custom"

    async def initialize(self, config):
        pass

    async def should_continue(self, context):
        return {"shouldContinue": False, "reason": "never asked", "action": "stop", "metadata": {}}


class Waits(GreenOrGiveUp):
    """Awaits real time in should_continue, which a workflow cannot."""

    async def should_continue(self, context):
        await asyncio.sleep(0)  # hands control to the event loop
        return await super().should_continue(context)


class KeepsASet(GreenOrGiveUp):
    """Keeps state the loop cannot carry when it continues as new, and says nothing of its own state."""

    def __init__(self, params=None):
        super().__init__(params)
        self.seen = set()


class Escalates(GreenOrGiveUp):
    """Hands the decision to a person on its second iteration (AgentGate's escalate)."""

    async def should_continue(self, context):
        if context.state.iteration >= 2:
            return {"shouldContinue": False, "reason": "Needs a human", "action": "escalate", "metadata": {}}
        return await super().should_continue(context)


class KeepsItsOwnState(GreenOrGiveUp):
    """Carries its state itself (Orchard's get_state/restore_state beside AgentGate's interface)."""

    def get_state(self):
        return {"best": self.best, "stale": self.stale, "shas": self.shas, "calls": self.calls}

    def restore_state(self, state):
        self.best, self.stale, self.shas, self.calls = state["best"], state["stale"], state["shas"], state["calls"]
