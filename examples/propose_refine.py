"""Two stages: one agent proposes a change, a second agent refines it on the proposal's branch."""

from dataclasses import dataclass

from workflows import InstanceResult, Strategy, StrategyConfig


@dataclass
class ProposeRefineConfig(StrategyConfig):
    refine_prompt: str = (
        "Another engineer already committed a first attempt at this task (see `git log`). "
        "Review it critically, then improve it: fix mistakes, simplify, and commit your changes."
    )


class ProposeRefineStrategy(Strategy):
    NAME = "propose-refine"

    def get_config_class(self) -> type[StrategyConfig]:
        return ProposeRefineConfig

    async def execute(self, prompt: str, base_branch: str, ctx) -> list[InstanceResult]:
        cfg: ProposeRefineConfig = self.create_config()  # type: ignore
        proposal = await ctx.wait(await ctx.run({"prompt": prompt, "base_branch": base_branch, "model": cfg.model}, key=ctx.key("propose")))
        if not proposal.has_changes:
            self.logger.info("the proposal changed nothing; skipping refinement")
            return [proposal]
        # Stage 2 starts from the proposal's branch, so its branch holds both commits.
        refine_task = {"prompt": f"{prompt}\n\n{cfg.refine_prompt}", "base_branch": proposal.branch_name, "model": cfg.model}
        refined = await ctx.wait(await ctx.run(refine_task, key=ctx.key("refine")))
        refined.metadata["proposal_branch"] = proposal.branch_name
        return [refined]
