from dataclasses import dataclass
from typing import List
from workflows import Strategy, StrategyConfig
from workflows import InstanceResult

@dataclass
class FanOutConfig(StrategyConfig):
    n: int = 2

class FanOutStrategy(Strategy):
    def get_config_class(self) -> type[StrategyConfig]:
        return FanOutConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> List[InstanceResult]:
        cfg: FanOutConfig = self.create_config()  # type: ignore
        handles = []
        for i in range(int(cfg.n)):
            t = {"prompt": f"{prompt}\n\nVariant #{i+1}", "base_branch": base_branch, "model": cfg.model}
            h = await ctx.run(t, key=ctx.key("gen", i+1))
            handles.append(h)
        successes, failures = await ctx.wait_all(handles, tolerate_failures=True)
        # Optionally add selection logic, e.g., pick first success
        return successes or failures
