"""`noop-fan-out`: n instances of the same task and nothing else, the benchmark's end-to-end load.

best-of-n would add scorer instances; this strategy schedules exactly n, so the run's wall time
is the cost of n instances. Loaded by file path, so the workflow sandbox re-imports it by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.sdk.context import Context, Handle
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy, StrategyConfig


@dataclass
class NoopFanOutConfig(StrategyConfig):
    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be at least 1")


class NoopFanOutStrategy(Strategy[NoopFanOutConfig]):
    def get_config_class(self) -> type[NoopFanOutConfig]:
        return NoopFanOutConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        handles: list[Handle] = []
        for i in range(cfg.n):
            task = {"prompt": prompt, "base_branch": base_branch, "model": cfg.model}
            handles.append(await ctx.run(task, key=ctx.key("noop", i + 1)))
        successes, failures = await ctx.wait_all(handles, tolerate_failures=True)
        return successes + failures
