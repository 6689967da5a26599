"""What an AgentGate-style decider is handed, in AgentGate's field names (workflows/loops/modes/agentgate.py
builds it from a loop's iteration): frozen dataclasses, which the sandbox shares with every run
(orchard_common/sandbox.py) instead of building them again for each loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflows.loops.models import IterationContext


@dataclass(frozen=True)
class AgentGateSnapshot:
    iteration: int
    after_sha: str
    before_sha: str
    tree: str
    files_changed: int
    insertions: int
    deletions: int


@dataclass(frozen=True)
class AgentGateLevelResult:
    level: str
    passed: bool


@dataclass(frozen=True)
class AgentGateVerification:
    passed: bool
    l0_result: AgentGateLevelResult | None
    l1_result: AgentGateLevelResult | None
    l2_result: AgentGateLevelResult | None
    l3_result: AgentGateLevelResult | None
    """None: the level is not configured."""
    diagnostics: list[dict[str, Any]]
    """One per failing check: level, type ("error"), message (its output's end), file (None)."""
    logs: str


@dataclass(frozen=True)
class AgentGateIteration:
    """An earlier iteration, from the loop's trail."""

    iteration: int
    snapshot_sha: str
    verification_passed: bool
    duration_ms: int
    tokens_used: int
    decision: dict[str, Any]


@dataclass(frozen=True)
class AgentGateState:
    iteration: int
    max_iterations: int
    last_decision: dict[str, Any] | None
    history: list[AgentGateIteration]
    is_terminal: bool = False
    termination_reason: str | None = None


@dataclass(frozen=True)
class AgentGateContext:
    config: dict[str, Any]
    state: AgentGateState
    current_snapshot: AgentGateSnapshot | None
    current_verification: AgentGateVerification | None
    agent_output: str = ""
    iteration_context: IterationContext | None = field(default=None, repr=False)
