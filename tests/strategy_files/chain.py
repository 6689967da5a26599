"""`chain`: n no-op instances one after another, continuing as new every `every` instances, with
the strategy's own state (how many ran, the last result) carried across the chain. With
`stoppable`, a question "Stop early?" stays open in the background across the chain; answering
it stops the run after the instance in flight."""

import asyncio
from dataclasses import dataclass

from workflows import InstanceResult, Strategy, StrategyConfig


@dataclass
class ChainConfig(StrategyConfig):
    n: int = 1000
    every: int = 50
    stoppable: bool = False


class ChainStrategy(Strategy):
    def get_config_class(self):
        return ChainConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        cfg: ChainConfig = self.create_config()  # type: ignore[assignment]
        state = ctx.carried or {"done": 0, "last": None}
        stop = asyncio.create_task(ctx.ask("Stop early?", choices=["stop"], key="stop-early")) if cfg.stoppable else None
        while state["done"] < cfg.n and not (stop and stop.done()):
            result = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key=ctx.key("noop", state["done"])))
            state = {"done": state["done"] + 1, "last": result.model_dump(mode="json")}
            if state["done"] < cfg.n and ctx.should_continue_as_new(max_instances=cfg.every):
                await ctx.continue_as_new(state)
        result = InstanceResult.model_validate(state["last"])
        result.metadata["done"] = state["done"]
        return [result]
