"""`round-robin`: each run of an experiment uses the next variant in rotation.

The rotation belongs to the experiment (`-S experiment=NAME`) on this repository and lives in
Temporal as a long-lived workflow (see workflows/coordination/rotation.py), so it survives restarts and two
concurrent runs never get the same turn. `orchard show --experiment NAME` lists the turns.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.sdk.context import Context
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy
from workflows.strategies.variants.config import VariantsConfig
from workflows.strategies.variants.running import finish_variant, start_variant


@dataclass
class RoundRobinConfig(VariantsConfig):
    experiment: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.experiment.strip():
            raise ValueError("experiment is required: -S experiment=NAME (the runs of one experiment share a rotation)")


class RoundRobinStrategy(Strategy[RoundRobinConfig]):
    def get_config_class(self) -> type[RoundRobinConfig]:
        return RoundRobinConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        ctx.phase = "taking a turn"
        turn = await ctx.take_turn(cfg.experiment, [v["id"] for v in cfg.variants])
        variant = cfg.variant(turn.choice)
        ctx.phase = f"turn {turn.number}: {variant['id']}"
        handle = await start_variant(ctx, cfg, prompt, base_branch, variant)
        result = await finish_variant(ctx, cfg, variant, handle, role=f"turn {turn.number}")
        assert result.variant is not None  # finish_variant said which
        result.variant.experiment, result.variant.turn = cfg.experiment, turn.number
        return [result]
