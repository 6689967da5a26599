"""`long-run`: n instances of the task one after another, continuing as new every `every`
instances so that no history grows with n; the strategy's own state (how many ran, the last
result) is carried across the chain in `ctx.carried`. With `stoppable`, a question "Stop early?"
stays open in the background across the chain (`orchard answer RUN stop`); answering it stops
the run after the instance in flight.

    orchard run "nothing to do" --strategy examples/long_run.py -S n=1000 -S every=100 \
        --agent-command true --import-policy never --max-parallel 1
"""

import asyncio
from dataclasses import dataclass

from workflows import InstanceResult, Strategy, StrategyConfig


@dataclass
class LongRunConfig(StrategyConfig):
    n: int = 1000
    every: int = 50
    stoppable: bool = False


class LongRunStrategy(Strategy):
    def get_config_class(self):
        return LongRunConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        cfg: LongRunConfig = self.create_config()  # type: ignore[assignment]
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
