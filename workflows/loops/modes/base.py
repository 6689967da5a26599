"""The interface every loop decider implements, and the base the built-in modes share.

A loop decider (what AgentGate, the CLI and the docs call a loop strategy: `-S mode=hybrid`, a
custom loop file) decides, after each iteration, whether the agent iterates again. It runs inside
the loop workflow (Temporal's sandbox): deterministic, no I/O, no clocks. Its state must survive
continue-as-new, so it is JSON-ready (`get_state`) and restored into a fresh instance
(`restore_state`).

`LoopStrategy` and `BaseLoopStrategy`, the names before the rename, stay importable (bottom of
this file): a custom loop file written against them loads as it did.
"""

from __future__ import annotations

import difflib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from workflows.loops.detection import find_completion_signal
from workflows.loops.models import LEVELS, Action, Decision, IterationContext, Level, VerificationReport
from workflows.loops.modes.settings import Criterion, LoopSettings
from workflows.sdk.errors import ConfigError, StrategyError

SettingsT = TypeVar("SettingsT", bound=BaseModel)

"""AgentGate's completion detection (`completionDetection`, here `completion`): what ends a loop
as done, checked in the order given; `loop_detection` turns loop detection on (a loop ends it as
`fail`, after the others are checked)."""

REQUIRED_METHODS = ("on_iteration_start", "should_continue", "on_iteration_complete", "on_run_complete", "get_state", "restore_state")


@runtime_checkable
class LoopDecider(Protocol):
    mode: ClassVar[str]
    """The mode's name, set by the class (a custom decider is "custom")."""

    @property
    def max_iterations(self) -> int:
        """The mode's own maximum (hybrid: base_iterations + max_bonus_iterations); the loop adds any
        `orchard loop extend` and hands the sum to every context as `max_iterations`. Only read: a
        property or a plain attribute both do."""
        ...

    runs_verification: bool
    """False: the loop skips the verification levels (ralph's skip_verification)."""

    def on_iteration_start(self, iteration: int) -> None: ...

    def should_continue(self, context: IterationContext) -> Decision: ...

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None: ...

    def on_run_complete(self, decision: Decision) -> None: ...

    def get_state(self) -> dict[str, Any]: ...

    def restore_state(self, state: dict[str, Any]) -> None: ...

    def workspace_files(self, iteration: int) -> dict[str, str]:
        """Files (relative path -> text) written into the workspace before iteration `iteration`'s
        agent runs, e.g. ralph's `{state_dir}/loop-state.json`; the base writes none."""
        ...


def parse_settings(mode: str, model: type[SettingsT], settings: Mapping[str, Any]) -> SettingsT:
    """`settings` validated by `model`; any problem is one ConfigError line naming the mode, the
    key and the settings the mode accepts."""
    accepted = sorted(model.model_fields)
    if not isinstance(settings, Mapping):
        raise ConfigError(f"loop mode {mode!r}: settings must be a mapping, not {type(settings).__name__}; accepted settings: {', '.join(accepted)}")
    try:
        return model.model_validate(dict(settings))
    except ValidationError as e:
        problems = [_problem(error, accepted) for error in e.errors()]
        raise ConfigError(f"loop mode {mode!r}: {'; '.join(problems)}; accepted settings: {', '.join(accepted)}") from None


def _problem(error: Any, accepted: list[str]) -> str:
    loc, message = error["loc"], error["msg"].removeprefix("Value error, ")
    if not loc:  # a check across settings
        return message
    key = f"{loc[0]}" + "".join(f"[{part}]" for part in loc[1:])
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[0]), accepted, n=1)
        return f"unknown setting {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if error["type"] == "missing":
        return f"setting {key!r} is required"
    return f"setting {key!r}: {message} (got {error['input']!r})"


def progress_of(report: VerificationReport | None) -> float:
    """The fraction of the configured levels passed, counting up to the highest passing level
    (L0 and L1 of L0-L3: 0.5); 0.0 without verification."""
    best = report.highest_passing if report else None
    if report is None or best is None:
        return 0.0
    return ([level.level for level in report.levels].index(best) + 1) / len(report.levels)


def level_rank(level: Level | None) -> int:
    """-1 for no level, then L0 < L1 < L2 < L3."""
    return -1 if level is None else LEVELS.index(level)


def higher_level(a: Level | None, b: Level | None) -> Level | None:
    return a if level_rank(a) >= level_rank(b) else b


def criterion_met(criterion: Criterion, context: IterationContext, minimum: Level | None = None, legacy: bool = False) -> str | None:
    """The reason `criterion` is met by this iteration, or None (loop_detection is never met here:
    the deciders detect loops on their own). `minimum`: verification_pass needs only the levels up
    to it. `legacy`: as before AgentGate's rules (the loop's run began before them): ci_pass needs
    a ci command."""
    i, report = context.iteration, context.verification
    if criterion == "verification_pass" and report is not None:
        best = report.highest_passing
        if minimum is not None and level_rank(best) >= level_rank(minimum):
            return f"verification passed up to {best} (minimum {minimum}) on iteration {i}"
        if minimum is None and report.passed:
            return f"verification passed at {best} on iteration {i}"
    if criterion == "ci_pass":
        if context.ci is not None and context.ci.passed:
            return f"CI ({context.ci.command}) passed on iteration {i}"
        # a passed verification with no CI outcome: no ci command is set (else it ran); AgentGate counts it as CI
        if context.ci is None and report is not None and report.passed and not legacy:
            return f"CI counts as passed: no ci command is set and verification passed at {report.highest_passing} on iteration {i}"
    # an agent that failed changed nothing because it failed, not because the task is done
    if criterion == "no_changes" and not context.snapshot.changed and context.agent_error is None:
        return f"iteration {i} changed nothing (tree {context.snapshot.tree[:8]} as before)"
    if criterion == "agent_signal":
        signal = find_completion_signal(context.agent_output)
        if signal:
            return f"the agent signalled {signal} on iteration {i}"
    return None


def delegate_error(target: str, method: str, error: Exception) -> StrategyError:
    """What a custom decider's exception becomes: one line naming `module:Class.method` (a
    ConfigError stays one)."""
    kind = ConfigError if isinstance(error, ConfigError) else StrategyError
    return kind(f"custom loop strategy {target}.{method} raised {type(error).__name__}: {error}")


def keep_recent(entries: list[dict[str, Any]], entry: dict[str, Any], keep: int) -> list[dict[str, Any]]:
    """`entries` (each with an `iteration`) plus `entry`, the last `keep` of them. Entries of
    `entry`'s iteration or later go: recording an iteration again replaces it."""
    return ([e for e in entries if e["iteration"] < entry["iteration"]] + [entry])[-keep:]


class BaseLoopDecider(ABC):
    """What the built-in modes share: settings parsed by the class's `Settings` model, a
    JSON-ready state, progress measured by verification levels, decision bookkeeping.

    The loop calls, per iteration: `on_iteration_start(n)`, then after the iteration
    `should_continue(ctx)` and `on_iteration_complete(ctx, decision)` whatever the decision, and
    `on_run_complete(decision)` once with the final one. `should_continue` only reads the state
    (asking twice gives the same answer); `on_iteration_complete` records the iteration.
    """

    mode: ClassVar[str] = "custom"
    """Each built-in mode sets its own; a subclass that sets none is a custom decider."""
    Settings: ClassVar[type[BaseModel]] = LoopSettings
    runs_verification: bool = True
    legacy: bool = False
    """True: decide as before AgentGate's rules (issue 26) where they differ. The loop sets it for a
    run begun before them (a Temporal patch), so that its history replays as it was made."""
    PROGRESS_KEPT: ClassVar[int] = 10

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: Any = parse_settings(self.mode, self.Settings, settings or {})
        self.state = self.initial_state()

    @property
    def max_iterations(self) -> int:
        return self.settings.max_iterations

    def initial_state(self) -> dict[str, Any]:
        """Subclasses extend it with their own keys (a restored state missing some gets these)."""
        return {
            "iteration": 0,
            "decisions": {},
            "last_decision": None,
            "highest_level": None,
            "progress": [],
            "loop_count": 0,
            "summary": None,
        }

    def on_iteration_start(self, iteration: int) -> None:
        self.state["iteration"] = iteration

    @abstractmethod
    def should_continue(self, context: IterationContext) -> Decision: ...

    def on_iteration_complete(self, context: IterationContext, decision: Decision) -> None:
        report = context.verification
        level = report.highest_passing if report else None
        self.state["highest_level"] = higher_level(self.state["highest_level"], level)
        entry = {"iteration": context.iteration, "level": level, "progress": progress_of(report)}
        self.state["progress"] = keep_recent(self.state["progress"], entry, self.PROGRESS_KEPT)
        self.state["decisions"][decision.action] = self.state["decisions"].get(decision.action, 0) + 1
        self.state["last_decision"] = {"iteration": context.iteration, **decision.model_dump(mode="json", by_alias=True)}
        if decision.metadata.get("loop_type"):
            self.state["loop_count"] += 1

    def on_run_complete(self, decision: Decision) -> None:
        self.state["summary"] = {
            "iterations": self.state["iteration"],
            "action": decision.action,
            "reason": decision.reason,
            "partial": decision.partial,
            "highest_level": self.state["highest_level"],
            "loop_count": self.state["loop_count"],
        }

    def get_state(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.state))

    def restore_state(self, state: dict[str, Any]) -> None:
        self.state = {**self.initial_state(), **json.loads(json.dumps(state))}

    def workspace_files(self, iteration: int) -> dict[str, str]:
        return {}

    # helpers for should_continue: they read the state and the context, never change them

    def highest_level_ever(self, context: IterationContext) -> Level | None:
        """The highest level passed in any iteration so far, this one included."""
        current = context.verification.highest_passing if context.verification else None
        return higher_level(self.state["highest_level"], current)

    def previous_progress(self, context: IterationContext) -> float:
        """The progress of the last recorded iteration before this one (0.0 before the first)."""
        earlier = [e["progress"] for e in self.state["progress"] if e["iteration"] < context.iteration]
        return earlier[-1] if earlier else 0.0

    def decision(self, context: IterationContext, action: Action, reason: str, **metadata: Any) -> Decision:
        """A decision (continue exactly when `action` is "continue") whose metadata always says
        the iteration, the maximum and the highest level this iteration passed."""
        report = context.verification
        base = {"iteration": context.iteration, "max_iterations": context.max_iterations, "highest_level": report.highest_passing if report else None}
        return Decision(should_continue=action == "continue", reason=reason, action=action, metadata={**base, **metadata})


LoopStrategy = LoopDecider
"""The old name of LoopDecider, kept for custom loop files written before the rename."""
BaseLoopStrategy = BaseLoopDecider
"""The old name of BaseLoopDecider, kept for custom loop files written before the rename."""
