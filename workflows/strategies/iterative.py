"""`iterative`: propose → review → refine, each round on the previous round's branch.

Round 1 works from the base branch. After each round a read-only reviewer looks at everything
committed since the base and answers numbered findings, or "No findings."; an answer that is
neither is asked again once, and if it stays unstructured its text is the next round's feedback
(it never ends the loop). The next round addresses the findings, starting from the last round's
branch. The loop stops after `iterations` rounds, or earlier when a round commits nothing new,
when the reviewer has no findings, or when an agent fails. The last good round's result is
returned, with the review trail in its metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workflows.sdk.context import Context
from workflows.sdk.errors import InstanceFailed
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.strategies.read_only_agent import READ_ONLY, agent_overrides

FINDING = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)")
NO_FINDINGS = "No findings."


@dataclass
class IterativeConfig(StrategyConfig):
    iterations: int = 3
    reviewer_prompt: str = ""
    reviewer_model: str = ""
    reviewer_plugin: str = ""
    reviewer_agent_command: str = ""

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("iterations must be at least 1")


def parse_findings(text: str | None) -> list[str] | None:
    """The reviewer's numbered findings (`1. …` or `1) …`; indented lines continue a finding),
    [] for an answer of `No findings.`, None for an answer that is neither."""
    findings: list[str] = []
    for line in (text or "").splitlines():
        match = FINDING.match(line)
        if match:
            findings.append(match.group(2))
        elif findings and line[:1].isspace() and line.strip():
            findings[-1] += " " + line.strip()
    if findings:
        return findings
    return [] if any(line.strip() == NO_FINDINGS for line in (text or "").splitlines()) else None


def refine_prompt(prompt: str, findings: list[str]) -> str:
    numbered = "\n".join(f"{i}. {f}" for i, f in enumerate(findings, 1))
    return (
        f"{prompt}\n\nEarlier rounds already committed work on this task (see `git log`). "
        f"A reviewer found:\n{numbered}\n\nAddress every finding, then commit your changes."
    )


class IterativeStrategy(Strategy[IterativeConfig]):
    def get_config_class(self) -> type[IterativeConfig]:
        return IterativeConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        trail: list[dict[str, Any]] = []
        good: InstanceResult | None = None
        findings: list[str] = []
        stop = ""
        for round_no in range(1, cfg.iterations + 1):
            ctx.phase = f"round {round_no}: working"
            task = {
                "prompt": refine_prompt(prompt, findings) if findings else prompt,
                "base_branch": good.branch_name if good else base_branch,
                "model": cfg.model,
            }
            try:
                result = await ctx.wait(await ctx.run(task, key=ctx.key("round", round_no, "work")))
            except InstanceFailed as failed:
                if good is None:
                    return [failed.result]
                stop = f"round {round_no} failed: {failed.result.error}"
                break
            if not result.has_changes:
                stop = f"round {round_no} committed nothing new"
                if good is None:
                    good = result
                break
            good = result
            ctx.phase = f"round {round_no}: reviewing"
            try:
                findings, unstructured = await self._review(cfg, prompt, result, ctx, round_no)
            except InstanceFailed as failed:
                stop = f"the review of round {round_no} failed: {failed.result.error}"
                break
            step = {"round": round_no, "branch": result.branch_name, "commit": result.commit, "findings": findings}
            trail.append({**step, "unstructured": True} if unstructured else step)
            if not findings:
                stop = f"the reviewer had no findings on round {round_no}"
                break
        else:
            stop = f"ran all {cfg.iterations} rounds; {len(findings)} findings remain"
        assert good is not None
        good.metadata.update(rounds=len(trail), review_trail=trail)
        good.select(reason=stop)
        self.logger.info("iterative: %s; last good branch %s", stop, good.branch_name)
        return [good]

    async def _review(self, cfg: IterativeConfig, prompt: str, result: InstanceResult, ctx: Context, round_no: int) -> tuple[list[str], bool]:
        """(findings, whether the answer was unstructured). An answer that is neither numbered findings
        nor `No findings.` is asked for again; if it stays unstructured, its text is the one finding."""
        task = self._review_task(cfg, prompt, result, ctx)
        answer = (await ctx.wait(await ctx.run(task, key=ctx.key("round", round_no, "review")))).final_message
        findings = parse_findings(answer)
        if findings is not None:
            return findings, False
        again = {**task, "prompt": f"{task['prompt']}\n\nYour previous answer could not be used:\n{(answer or '')[:500]}\n"
                 f"Answer again with only the numbered list, or exactly: {NO_FINDINGS}"}
        retry = (await ctx.wait(await ctx.run(again, key=ctx.key("round", round_no, "review", "again")))).final_message
        findings = parse_findings(retry)
        if findings is not None:
            return findings, False
        text = (retry or answer or "").strip()
        return ([text] if text else [f"the reviewer's answer was empty; review the work on round {round_no} again"]), True

    def _review_task(self, cfg: IterativeConfig, prompt: str, result: InstanceResult, ctx: Context) -> dict[str, Any]:
        request = (
            f"You are reviewing the work done so far on a coding task. {READ_ONLY}\n\n"
            f"<task>\n{prompt}\n</task>\n\n"
            f"The changes are the commits from {ctx.base_commit} to HEAD in this repository "
            f"(inspect them with `git diff {ctx.base_commit}..HEAD`).\n"
            f"{cfg.reviewer_prompt + chr(10) if cfg.reviewer_prompt else ''}"
            "List what must still be fixed or improved as a numbered list (`1. …`), most important first, "
            f"one finding per item. If nothing needs to change, answer exactly: {NO_FINDINGS}"
        )
        return {
            **agent_overrides(cfg.reviewer_model or cfg.model, cfg.reviewer_plugin, cfg.reviewer_agent_command),
            "prompt": request,
            "base_branch": result.branch_name,
            "import_policy": "never",
        }
