"""`multi-branch`: every variant at once, one branch each, and a table comparing them."""

from __future__ import annotations

import asyncio

from workflows.sdk.context import Context
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy
from workflows.strategies.variants.config import VariantsConfig
from workflows.strategies.variants.running import finish_variant, start_variant


class MultiBranchStrategy(Strategy[VariantsConfig]):
    def get_config_class(self) -> type[VariantsConfig]:
        return VariantsConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        handles = [await start_variant(ctx, cfg, prompt, base_branch, v) for v in cfg.variants]
        finishing = (finish_variant(ctx, cfg, v, h, role="variant") for v, h in zip(cfg.variants, handles, strict=True))
        return list(await asyncio.gather(*finishing))
