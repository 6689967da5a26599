"""A custom loop file as written before the loop deciders were renamed: it subclasses
BaseLoopStrategy, the old name of BaseLoopDecider, and loads as it did."""

from workflows.loops.modes.base import BaseLoopStrategy


class StopAtTwo(BaseLoopStrategy):
    def should_continue(self, context):
        if context.iteration >= 2:
            return self.decision(context, "complete", "two iterations are enough")
        return self.decision(context, "continue", f"iteration {context.iteration} of 2")
