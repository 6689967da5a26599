"""`bug-finding`: a read-only agent reports one confirmed bug; a second agent reproduces it.

The discovery agent searches `target_area` (optionally with a `bug_focus`) without changing
anything and answers one JSON object describing a bug. A validation agent, starting again from
the base branch, reproduces the bug and commits `BUG_REPORT.md`. The bug counts only if that
commit exists and the file is on it (checked by a verification command, not taken from the
agent's word); otherwise the run fails saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from workflows.sdk.context import Context
from workflows.sdk.errors import InstanceFailed, StrategyError
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.strategies.read_only_agent import JSON_REQUEST, READ_ONLY, ask, json_objects

REPORT_FILE = "BUG_REPORT.md"


@dataclass
class BugFindingConfig(StrategyConfig):
    target_area: str = ""
    bug_focus: str = ""
    discovery_attempts: int = 2

    def __post_init__(self) -> None:
        if not self.target_area.strip():
            raise ValueError('target_area is required: -S target_area="src/parser" (a folder, module or feature to search)')
        if self.discovery_attempts < 1:
            raise ValueError("discovery_attempts must be at least 1")


class BugReport(BaseModel):
    """The discovery agent's answer; `found: false` means it found no bug it could confirm."""

    found: bool = True
    title: str = ""
    severity: str = "medium"
    root_cause: str = ""
    reproduction: str = ""
    files: list[str] = []

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> str:
        return str(value or "medium").strip().lower()

    @field_validator("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        return [f.strip() for f in value.split(",") if f.strip()] if isinstance(value, str) else value or []

    @model_validator(mode="after")
    def _titled(self) -> BugReport:
        if self.found and not self.title.strip():
            raise ValueError("a reported bug needs a title")
        return self


def parse_bug(text: str | None) -> BugReport | None:
    """The first JSON object in the answer that reads as a bug report (or as `found: false`)."""
    for data in json_objects(text):
        try:
            return BugReport.model_validate(data)
        except ValidationError:
            continue
    return None


class BugFindingStrategy(Strategy[BugFindingConfig]):
    def get_config_class(self) -> type[BugFindingConfig]:
        return BugFindingConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        ctx.phase = "discovering"
        discovery = {"prompt": self._discovery_prompt(cfg, prompt), "base_branch": base_branch, "model": cfg.model}
        bug = await ask(ctx, discovery, ("discover",), parse_bug, cfg.discovery_attempts)
        if bug is None:
            raise StrategyError(f"the discovery agent gave no usable bug report in {cfg.discovery_attempts} attempts")
        if not bug.found:
            raise StrategyError(f"no bug found in {cfg.target_area}")
        ctx.phase = "validating"
        handle = await ctx.run({"prompt": self._validation_prompt(bug), "base_branch": base_branch, "model": cfg.model}, key=ctx.key("validate"))
        unconfirmed = f"the bug {bug.title!r} was not confirmed"
        try:
            result = await ctx.wait(handle)
        except InstanceFailed as failed:
            raise StrategyError(f"{unconfirmed}: the validation agent failed: {failed.result.error}") from None
        if not result.has_changes:
            raise StrategyError(f"{unconfirmed}: the validation agent committed nothing")
        check = await ctx.verify(result, f"test -f {REPORT_FILE}")
        if not check.passed:
            raise StrategyError(f"{unconfirmed}: {REPORT_FILE} is not on {result.branch_name}")
        result.metadata.update(bug=bug.model_dump(exclude={"found"}), confirmed=True)
        result.select(reason=f"{bug.severity} bug confirmed: {bug.title}")
        return [result]

    def _discovery_prompt(self, cfg: BugFindingConfig, prompt: str) -> str:
        focus = f" Focus on: {cfg.bug_focus}." if cfg.bug_focus else ""
        return (
            f"Find one real bug in {cfg.target_area} of this repository.{focus} {READ_ONLY} "
            "Report only a bug you have confirmed (by tracing the code, or running it or its tests), "
            "the most severe one you can confirm.\n\n"
            f"{prompt}\n\n"
            f'{JSON_REQUEST}: {{"found": true, "title": "<one line>", "severity": "critical|high|medium|low", '
            '"root_cause": "<why it happens>", "reproduction": "<exact steps or commands>", "files": ["<path>", …]}, '
            'or {"found": false} if you could not confirm any bug.'
        )

    def _validation_prompt(self, bug: BugReport) -> str:
        return (
            "A bug was reported in this repository:\n\n"
            f"Title: {bug.title}\nSeverity: {bug.severity}\nFiles: {', '.join(bug.files) or '-'}\n"
            f"Root cause: {bug.root_cause}\nReproduction: {bug.reproduction}\n\n"
            "Reproduce it; do not fix it. A failing test or a small script that shows the bug is welcome.\n"
            f"Write `{REPORT_FILE}` at the repository root with the title, severity, root cause, the exact "
            "steps you ran and what they showed, and commit it. If you cannot reproduce the bug, commit nothing."
        )
