"""A strategy file that registers a helper strategy under a name of its own and runs it as a
child by that name (the file is re-imported for every run, registering it again)."""

from workflows import InstanceResult, Strategy, register_strategy


class HelperStrategy(Strategy):
    NAME = "helper"

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        return [await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch}, key=ctx.key("help")))]


register_strategy("my-helper", HelperStrategy)


class UsesHelperStrategy(Strategy):
    NAME = "uses-helper"

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        return await ctx.run_strategy("my-helper", prompt, base_branch, key=ctx.key("helper"))


STRATEGY = UsesHelperStrategy
