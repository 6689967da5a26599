"""A custom loop decider built on BaseLoopDecider: complete once verification reached `target`.
LOOP_STRATEGY names it among the module's classes."""

from pydantic import BaseModel, ConfigDict

from workflows.loops.modes.base import BaseLoopDecider, level_rank


class ReachSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_iterations: int = 4
    target: str = "L1"


class ReachLevel(BaseLoopDecider):
    Settings = ReachSettings

    def should_continue(self, context):
        best = self.highest_level_ever(context)
        if level_rank(best) >= level_rank(self.settings.target):
            return self.decision(context, "complete", f"reached {self.settings.target} by iteration {context.iteration}")
        if context.iteration >= context.max_iterations:
            return self.decision(context, "timeout", f"reached the maximum of {context.max_iterations} iterations")
        return self.decision(context, "continue", f"below {self.settings.target} after iteration {context.iteration}")


class Helper:
    def should_continue(self, context):
        raise AssertionError("LOOP_STRATEGY names ReachLevel")


LOOP_STRATEGY = ReachLevel
