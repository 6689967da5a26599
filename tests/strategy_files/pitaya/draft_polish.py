"""Pitaya's propose/refine shape (examples/propose_refine.py): a draft, then a polish based on the
draft's branch; both results returned. Import lines mapped to workflows, nothing else changed."""

# ruff: noqa: I001, UP006, UP035, UP045  (Pitaya's idioms kept: its import lines one for one, typing.List and Optional)

from dataclasses import dataclass
from typing import List

from workflows import Strategy, StrategyConfig
from workflows import StrategyContext
from workflows import InstanceResult


@dataclass
class DraftPolishConfig(StrategyConfig):
    polish_hint: str = "Tighten the wording."


class DraftPolishStrategy(Strategy):
    NAME = "pitaya-draft-polish"

    def get_config_class(self) -> type[StrategyConfig]:
        return DraftPolishConfig

    async def execute(self, prompt: str, base_branch: str, ctx: StrategyContext) -> List[InstanceResult]:
        cfg = self.create_config()
        draft = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch, "model": cfg.model}, key=ctx.key("draft", "gen")))
        next_base = draft.branch_name or base_branch
        polish_prompt = f"Polish the previous change: {cfg.polish_hint}\n\nOriginal instruction: {prompt}"
        polished = await ctx.wait(await ctx.run({"prompt": polish_prompt, "base_branch": next_base, "model": cfg.model}, key=ctx.key("polish", "gen")))
        return [draft, polished]


STRATEGY = DraftPolishStrategy
