"""A custom loop strategy written to AgentGate's interface (packages/server/src/types/loop-strategy.ts),
ported to Python names, run as an Orchard loop decider.

The interface (AGENTGATE_METHODS; each may be `async def`, as AgentGate's are, as long as it awaits
nothing: it runs inside the workflow):

    initialize(config)                    once, after the class is made with the mode's `config`
    on_loop_start(context)                once, before the first iteration
    on_iteration_start(context)           each iteration (the context has no snapshot or verification yet)
    should_continue(context) -> decision  {"shouldContinue": bool, "reason": str,
                                           "action": "continue" | "stop" | "retry" | "escalate", "metadata": {...}}
    on_iteration_end(context, decision)   each iteration, with the decision it made
    on_loop_end(context, final_decision)  once, when the loop ends
    get_progress(context), detect_loop(context), reset()
                                          required, as AgentGate requires them; the loop does not call
                                          them (AgentGate's run executor did not either)

The context (AgentGateContext) carries AgentGate's fields in Python names: `config`, `state`
(`iteration`, `max_iterations`, `last_decision`, `history`), `current_snapshot` (`after_sha`,
`before_sha`, `files_changed`, ...), `current_verification` (`passed`, `l0_result`..`l3_result`,
`diagnostics`, `logs`), and Orchard's `agent_output` and `iteration_context` (everything else).

What Orchard does with a decision: shouldContinue true (continue, retry) iterates again;
shouldContinue false ends the loop, `complete` when this iteration's verification passed (or none
ran), `timeout` at the maximum, `fail` when verification failed (AgentGate's run failed then);
`metadata.action` of complete, timeout or fail (AgentGate's ralph says it so) decides instead;
`escalate` is a `fail` (with on_fail=ask a person answers).

Orchard's loop continues as new every `iterations_per_run` iterations; the strategy goes along:
its get_state/restore_state if it has them, else its instance attributes, which must then be
JSON-ready (a clear error names one that is not, at the first iteration).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any, cast

from pydantic import ValidationError

from workflows.loops.models import Action, Decision, IterationContext, IterationRecord, VerificationReport
from workflows.loops.modes.agentgate_context import (
    AgentGateContext,
    AgentGateIteration,
    AgentGateLevelResult,
    AgentGateSnapshot,
    AgentGateState,
    AgentGateVerification,
)
from workflows.loops.modes.base import delegate_error
from workflows.sdk.errors import StrategyError

AGENTGATE_METHODS = (
    "initialize", "on_loop_start", "on_iteration_start", "should_continue", "on_iteration_end", "on_loop_end", "get_progress", "detect_loop", "reset",
)
AGENTGATE_ONLY = ("initialize", "on_loop_start", "on_iteration_end", "on_loop_end", "get_progress", "detect_loop", "reset")
"""Methods of AgentGate's interface that Orchard's has not: a class with one of them (and without
Orchard's on_iteration_complete and on_run_complete) is written to AgentGate's."""
ORCHARD_ONLY = ("on_iteration_complete", "on_run_complete")
ACTIONS = ("continue", "stop", "retry", "escalate")
ENDINGS = ("complete", "timeout", "fail")


def is_agentgate_class(cls: type) -> bool:
    has = [m for m in (*AGENTGATE_ONLY, *ORCHARD_ONLY) if callable(getattr(cls, m, None))]
    return any(m in AGENTGATE_ONLY for m in has) and not any(m in ORCHARD_ONLY for m in has)


# -- the context, in AgentGate's field names (agentgate_context.py) ---------------------------


def _verification(report: VerificationReport) -> AgentGateVerification:
    def level(name: str) -> AgentGateLevelResult | None:
        found = report.level(name)
        return AgentGateLevelResult(name, found.passed) if found else None

    failing = report.failing()
    return AgentGateVerification(
        passed=report.passed, l0_result=level("L0"), l1_result=level("L1"), l2_result=level("L2"), l3_result=level("L3"),
        diagnostics=[{"level": lv, "type": "error", "message": c.output_tail, "file": None} for lv, c in failing],
        logs="\n".join(c.output_tail for _, c in failing),
    )


def _history_row(record: IterationRecord) -> AgentGateIteration:
    going_on = record.action == "continue"
    decision = {"shouldContinue": going_on, "reason": record.reason, "action": "continue" if going_on else "stop", "metadata": {}}
    return AgentGateIteration(record.iteration, record.commit, record.verified, round(record.duration_seconds * 1000), record.tokens, decision)


def agentgate_contexts(config: dict[str, Any], context: IterationContext, last_decision: dict[str, Any] | None) -> tuple[AgentGateContext, AgentGateContext]:
    """`context` in AgentGate's fields: as at the iteration's start (no snapshot or verification
    yet), and as after it."""
    snapshot = context.snapshot
    state = AgentGateState(context.iteration, context.max_iterations, last_decision, [_history_row(r) for r in context.history])
    current = AgentGateSnapshot(context.iteration, snapshot.commit, snapshot.previous_commit, snapshot.tree, snapshot.files_changed,
                                snapshot.insertions, snapshot.deletions)
    verification = _verification(context.verification) if context.verification is not None else None
    return AgentGateContext(config, state, None, None, "", context), AgentGateContext(config, state, current, verification, context.agent_output, context)


# -- decisions, both ways -----------------------------------------------------------------------


def orchard_decision(target: str, result: Any, context: IterationContext) -> tuple[Decision, dict[str, Any]]:
    """An AgentGate decision as Orchard's, and the AgentGate decision as JSON (what on_iteration_end gets)."""
    if isinstance(result, Mapping) and "continue" in result and "shouldContinue" not in result:  # Orchard's dict shape
        try:
            result = Decision.model_validate(dict(result))
        except ValidationError as e:
            wrong = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'decision'}: {err['msg']}" for err in e.errors())
            raise StrategyError(f"custom loop strategy {target}.should_continue returned a dict that is not a Decision ({wrong})") from None
    if isinstance(result, Decision):  # a port that already answers in Orchard's words
        return result, agentgate_decision(result)
    if not isinstance(result, Mapping):
        raise StrategyError(f"custom loop strategy {target}.should_continue returned {type(result).__name__}, not a decision "
                            "({'shouldContinue': ..., 'reason': ..., 'action': ..., 'metadata': ...})")
    go_on = result.get("shouldContinue", result.get("should_continue"))
    reason, action, metadata = result.get("reason"), result.get("action"), result.get("metadata", {})
    metadata = {} if metadata is None else metadata
    problems = [problem for problem, bad in (
        ("shouldContinue must be true or false", not isinstance(go_on, bool)),
        ("reason must be text", not isinstance(reason, str)),
        (f"action must be one of {', '.join(ACTIONS)}", action not in ACTIONS),
        ("metadata must be a dict", not isinstance(metadata, Mapping)),
    ) if bad]
    if problems:
        raise StrategyError(f"custom loop strategy {target}.should_continue returned a decision Orchard cannot read: {'; '.join(problems)}")
    try:
        shown = json.loads(json.dumps({"shouldContinue": go_on, "reason": reason, "action": action, "metadata": dict(metadata)}))
    except (TypeError, ValueError) as e:
        raise StrategyError(f"custom loop strategy {target}.should_continue returned a decision whose metadata is not JSON-ready: {e}") from None
    ending: Action = "continue" if go_on else _ending(str(action), shown["metadata"], context)
    return Decision(should_continue=go_on, reason=str(reason), action=ending, metadata={**shown["metadata"], "agentgate_action": action}), shown


def _ending(action: str, metadata: dict[str, Any], context: IterationContext) -> Action:
    said = metadata.get("action")
    if said in ENDINGS:
        return cast(Action, said)
    if said == "loop_detected" or action == "escalate":
        return "fail"
    report = context.verification
    if report is not None and report.passed:
        return "complete"
    if context.iteration >= context.max_iterations:
        return "timeout"
    return "fail" if report is not None else "complete"


def agentgate_decision(decision: Decision) -> dict[str, Any]:
    """Orchard's decision in AgentGate's shape (a person's stop, a budget, or a port's own Decision)."""
    action = "continue" if decision.should_continue else "stop"
    return {"shouldContinue": decision.should_continue, "reason": decision.reason, "action": action,
            "metadata": json.loads(json.dumps({**decision.metadata, "action": decision.action}))}


# -- the decider ------------------------------------------------------------------------------------


class AgentGateDecider:
    """Orchard's LoopDecider over an instance of a class written to AgentGate's interface."""

    def __init__(self, target: str, delegate: Any, config: dict[str, Any], max_iterations: int, runs_verification: bool) -> None:
        self.target, self.delegate, self.config = target, delegate, config
        self.max_iterations, self.runs_verification = max_iterations, runs_verification
        self.started_loop = False
        self.started_iteration = 0
        self.last_decision: dict[str, Any] | None = None
        """The AgentGate decision of the last iteration (what the next context's last_decision is)."""
        self._pending: tuple[int, Decision, dict[str, Any]] | None = None
        self._seen: tuple[IterationContext, AgentGateContext, AgentGateContext] | None = None
        """The last iteration's context, and it in AgentGate's fields (built once: its history is the whole trail)."""
        self._call("initialize", dict(config))

    def on_iteration_start(self, iteration: int) -> None:
        """AgentGate's on_loop_start and on_iteration_start need the iteration's context, which
        Orchard hands over after the iteration ran: they are called then, before should_continue."""

    def should_continue(self, context: IterationContext) -> Decision:
        start, after = self._contexts(context)
        if not self.started_loop:
            self._call("on_loop_start", start)
            self.started_loop = True
        if self.started_iteration < context.iteration:
            self._call("on_iteration_start", start)
            self.started_iteration = context.iteration
        decision, shown = orchard_decision(self.target, self._call("should_continue", after), context)
        self._pending = (context.iteration, decision, shown)
        return decision

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        shown = self._shown(context.iteration, decision)
        self._call("on_iteration_end", self._contexts(context)[1], shown)
        self.last_decision = shown

    def on_run_complete(self, decision: Decision) -> None:
        if self._seen is None:  # no iteration decided in this run of the loop's chain
            return
        context, _, after = self._seen
        self._call("on_loop_end", after, self._shown(context.iteration, decision))

    def get_progress(self, context: IterationContext) -> Any:
        return self._call("get_progress", self._contexts(context)[1])

    def detect_loop(self, context: IterationContext) -> Any:
        return self._call("detect_loop", self._contexts(context)[1])

    def reset(self) -> None:
        self._call("reset")

    def get_state(self) -> dict[str, Any]:
        own = {"started_loop": self.started_loop, "started_iteration": self.started_iteration, "last_decision": self.last_decision}
        if callable(getattr(self.delegate, "get_state", None)):
            return {"agentgate": own, "state": self._call("get_state")}
        attributes = {}
        for name, value in vars(self.delegate).items():
            try:
                attributes[name] = json.loads(json.dumps(value))
            except (TypeError, ValueError) as e:
                raise StrategyError(
                    f"custom loop strategy {self.target} keeps {name!r}, which is not JSON-ready ({e}): the loop carries a strategy's "
                    "attributes when it continues as new; keep plain data there, or give the class get_state() and restore_state(state)"
                ) from None
        return {"agentgate": own, "attributes": attributes}

    def restore_state(self, state: dict[str, Any]) -> None:
        own = state.get("agentgate", {})
        self.started_loop, self.started_iteration = bool(own.get("started_loop")), int(own.get("started_iteration", 0))
        self.last_decision = own.get("last_decision")
        if "state" in state:
            self._call("restore_state", state["state"])
        for name, value in state.get("attributes", {}).items():
            setattr(self.delegate, name, value)

    def workspace_files(self, iteration: int) -> dict[str, str]:
        return {}

    def _contexts(self, context: IterationContext) -> tuple[AgentGateContext, AgentGateContext]:
        if self._seen is None or self._seen[0] is not context:
            self._seen = (context, *agentgate_contexts(self.config, context, self.last_decision))
        return self._seen[1], self._seen[2]

    def _shown(self, iteration: int, decision: Decision) -> dict[str, Any]:
        """The AgentGate decision the strategy made for `iteration`, unless the loop decided otherwise
        (a person's stop, a budget, an answer to on_fail=ask)."""
        pending = self._pending
        if pending is not None and pending[0] == iteration and pending[1] == decision:
            return pending[2]
        return agentgate_decision(decision)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return _settled(getattr(self.delegate, method)(*args))
        except _Suspended:
            raise StrategyError(f"custom loop strategy {self.target}.{method} waited on something; it runs inside the loop's workflow, "
                                "where it may await nothing (no I/O, no sleeping)") from None
        except Exception as e:
            raise delegate_error(self.target, method, e) from e


class _Suspended(Exception):
    pass


def _settled(value: Any) -> Any:
    """An `async def` method's result: run its coroutine, which must finish without waiting."""
    if not inspect.iscoroutine(value):
        return value
    try:
        value.send(None)
    except StopIteration as done:
        return done.value
    value.close()
    raise _Suspended
