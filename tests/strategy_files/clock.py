"""A strategy with a bug the workflow sandbox must catch: it reads the clock."""

import time

from workflows import Strategy


class ClockStrategy(Strategy):
    async def execute(self, prompt, base_branch, ctx):
        prompt = f"{prompt} at {time.time()}"
        return [await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key="work"))]
