"""The loop modes' settings (a loop's `mode_settings`, checked as a run starts): pure models, which
the sandbox shares with every run (orchard_common/sandbox.py) instead of building them again for
each loop; the deciders beside this module read them."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.loops.models import Level

Criterion = Literal["verification_pass", "ci_pass", "no_changes", "agent_signal", "loop_detection"]
LoopType = Literal["content_hash", "exact", "oscillating", "semantic"]

FIXED_COMPLETION: tuple[Criterion, ...] = ("verification_pass",)
HYBRID_COMPLETION: tuple[Criterion, ...] = ("verification_pass", "no_changes")
RALPH_COMPLETION: tuple[Criterion, ...] = ("verification_pass", "loop_detection")
DEFAULT_LOOP_DETECTION: tuple[LoopType, ...] = ("content_hash", "exact", "oscillating", "semantic")


class LoopSettings(BaseModel):
    """The settings of a BaseLoopDecider subclass that declares none (e.g. a custom decider):
    max_iterations, and any other key kept as given (`self.settings.model_extra`)."""

    model_config = ConfigDict(extra="allow")

    max_iterations: int = Field(10, ge=1)


class FixedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_iterations: int = Field(3, ge=1)
    completion: list[Criterion] = Field(default_factory=lambda: list(FIXED_COMPLETION))
    """What ends the loop before its maximum; [] runs every iteration."""


class HybridSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_iterations: int = Field(3, ge=1)
    max_bonus_iterations: int = Field(2, ge=0)
    progress_threshold: float = Field(0.1, ge=0, le=1)
    """The best fraction of the configured levels passed that counts as progress."""
    completion: list[Criterion] = Field(default_factory=lambda: list(HYBRID_COMPLETION))
    min_verification_level: Level | None = None
    """None: verification_pass needs every configured level; a level: passing up to it suffices."""
    accept_partial_after: int | None = Field(None, ge=1)
    loop_detection: list[LoopType] = Field(default_factory=lambda: list(DEFAULT_LOOP_DETECTION))
    """The loops that end the loop (detection.py); [] detects none."""

    @model_validator(mode="after")
    def _detection_asked_for(self) -> HybridSettings:
        if "loop_detection" in self.completion and not self.loop_detection:
            raise ValueError("completion lists loop_detection, yet loop_detection is []: drop one of them")
        return self


class RalphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_iterations: int = Field(1, ge=1)
    max_iterations: int = Field(10, ge=1)
    similarity_threshold: float = Field(0.95, ge=0, le=1)
    """AgentGate's convergenceThreshold 0.05, as a similarity: 1 - 0.05."""
    window_size: int = Field(3, ge=2)
    skip_verification: bool = False
    completion: list[Criterion] = Field(default_factory=lambda: list(RALPH_COMPLETION))
    """What ends the loop besides the agent's signal (always on) and the maximum."""
    state_dir: str | None = None
    """A folder inside the workspace, relative, e.g. ".ralph"."""

    @field_validator("state_dir")
    @classmethod
    def _inside_workspace(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = PurePosixPath(value)
        if not value.strip() or path.is_absolute() or value.startswith("~") or ".." in path.parts or "\\" in value:
            raise ValueError("must be a relative folder inside the workspace, without '..'")
        if path.parts[:1] == (".git",) or str(path) == ".":
            raise ValueError("must be a folder of its own, not the workspace or its .git")
        return str(path)

    @model_validator(mode="after")
    def _min_within_max(self) -> RalphSettings:
        if self.min_iterations > self.max_iterations:
            raise ValueError(f"min_iterations ({self.min_iterations}) exceeds max_iterations ({self.max_iterations})")
        return self


class CustomSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    """Handed to the class's constructor."""
    max_iterations: int = Field(10, ge=1)
    """Used when the class has no max_iterations of its own."""
