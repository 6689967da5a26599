"""A strategy composed of registered ones: iterate on the winner of best-of-n."""

from workflows import InstanceResult, Strategy, get_strategy


class ComposedStrategy(Strategy):
    NAME = "composed"

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        best_of_n = get_strategy("best-of-n")(params={"n": 2}, defaults=self.defaults)
        winner = (await best_of_n.execute(prompt, base_branch, ctx))[0]
        iterative = get_strategy("iterative")(params={"iterations": 1}, defaults=self.defaults)
        return await iterative.execute(prompt, winner.branch_name, ctx)
