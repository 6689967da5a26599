"""Pitaya's fan-out example shape (examples/fanout_two.py): N instances at once, each waited for
with asyncio.gather. Pitaya's three import lines, each mapped to workflows and nothing else changed."""

# ruff: noqa: I001, UP006, UP035, UP045  (Pitaya's idioms kept: its import lines one for one, typing.List and Optional)

import asyncio
from dataclasses import dataclass
from typing import List

from workflows import Strategy, StrategyConfig
from workflows import StrategyContext
from workflows import InstanceResult


@dataclass
class WideConfig(StrategyConfig):
    parallel: int = 2


class WideStrategy(Strategy):
    NAME = "pitaya-wide"

    def get_config_class(self) -> type[StrategyConfig]:
        return WideConfig

    async def execute(self, prompt: str, base_branch: str, ctx: StrategyContext) -> List[InstanceResult]:
        cfg = self.create_config()
        self.logger.info("fanning out to %s", cfg.parallel)
        handles = []
        for i in range(1, max(2, int(getattr(cfg, "parallel", 2))) + 1):
            task = {"prompt": f"{prompt} (take {i})", "base_branch": base_branch, "model": cfg.model}
            handles.append(await ctx.run(task, key=ctx.key("wide", i)))
        return list(await asyncio.gather(*(ctx.wait(h) for h in handles)))


STRATEGY = WideStrategy
