from dataclasses import dataclass
from typing import List
from workflows import Strategy, StrategyConfig
from workflows import InstanceResult

@dataclass
class MyConfig(StrategyConfig):
    # Add your own knobs; model is inherited
    greeting: str = "Hello from Pitaya"

class MyStrategy(Strategy):
    NAME = "my-simple"

    def get_config_class(self) -> type[StrategyConfig]:
        return MyConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> List[InstanceResult]:
        cfg: MyConfig = self.create_config()  # type: ignore
        task = {
            "prompt": f"{prompt}\n\nAlso write HELLO.txt with: {cfg.greeting}",
            "base_branch": base_branch,
            "model": cfg.model,
        }
        h = await ctx.run(task, key=ctx.key("gen"))
        res = await ctx.wait(h)
        return [res]
