"""`simple`: one agent instance on one branch."""

from __future__ import annotations

from workflows.sdk.context import Context
from workflows.sdk.models import InstanceResult
from workflows.sdk.strategy import Strategy


class SimpleStrategy(Strategy):
    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        handle = await ctx.run({"prompt": prompt, "base_branch": base_branch, "model": cfg.model}, key=ctx.key("simple"))
        results = await ctx.wait_all([handle], tolerate_failures=True)
        successes, failures = results
        return successes + failures
