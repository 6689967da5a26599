"""`shadow`: the primary variant answers; the others run beside it as shadows, for comparison.

All variants start together. The primary's result is published as soon as it is in, so the
caller (`orchard run`) has its answer then; the shadows keep running durably and their results
are recorded beside the primary's. Shadow results carry `variant.shadow`, so they never count
toward the run's status: a failing shadow never fails the primary.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from workflows.sdk.context import Context
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy
from workflows.strategies.variants.config import VariantsConfig
from workflows.strategies.variants.running import finish_variant, start_variant


@dataclass
class ShadowConfig(VariantsConfig):
    primary: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.primary:
            self.variant(self.primary)


class ShadowStrategy(Strategy[ShadowConfig]):
    def get_config_class(self) -> type[ShadowConfig]:
        return ShadowConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        primary = cfg.variant(cfg.primary) if cfg.primary else cfg.variants[0]
        shadows = [v for v in cfg.variants if v["id"] != primary["id"]]
        primary_handle = await start_variant(ctx, cfg, prompt, base_branch, primary)
        shadow_handles = [await start_variant(ctx, cfg, prompt, base_branch, v) for v in shadows]
        ctx.phase = "primary running"
        answer = await finish_variant(ctx, cfg, primary, primary_handle, role="primary")
        ctx.publish([answer])
        ctx.phase = "shadows running"
        results = await asyncio.gather(*(finish_variant(ctx, cfg, v, h, role="shadow") for v, h in zip(shadows, shadow_handles, strict=True)))
        for r in results:
            assert r.variant is not None  # finish_variant said which
            r.variant.shadow = True
        return [answer, *results]
