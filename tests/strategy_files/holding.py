"""A strategy that holds a lock or a semaphore's lease for a while (tests of ctx.hold)."""

from dataclasses import dataclass

from temporalio import workflow

from workflows import InstanceResult, Strategy, StrategyConfig


@dataclass
class HoldingConfig(StrategyConfig):
    name: str = "lock"
    max: int = 1
    hold_seconds: float = 0.0
    """How long to hold it by a durable timer (the dev server's timers fire to the second)."""
    work: bool = False
    """Hold it while one instance runs (the script says how long it takes)."""
    heartbeat: float | None = 30.0
    hold_timeout: float | None = None


class HoldingStrategy(Strategy):
    def get_config_class(self):
        return HoldingConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        cfg: HoldingConfig = self.create_config()  # type: ignore[assignment]
        ctx.phase = f"waiting for {cfg.name}"
        async with ctx.hold(cfg.name, max=cfg.max, heartbeat=cfg.heartbeat, hold_timeout=cfg.hold_timeout) as lease:
            ctx.phase = f"holding {cfg.name}"
            entered = workflow.now().timestamp()
            if cfg.work:
                await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key="work"))
            if cfg.hold_seconds:
                await workflow.sleep(cfg.hold_seconds)
            left = workflow.now().timestamp()
        return [InstanceResult(success=True, key="hold", metadata={"entered": entered, "left": left, "position": lease.position, "lost": lease.lost})]
