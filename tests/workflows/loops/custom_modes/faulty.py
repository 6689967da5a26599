"""Custom loop deciders that get it wrong, one way each."""

from workflows.loops.modes.base import BaseLoopDecider


class Incomplete:
    def should_continue(self, context):
        raise AssertionError("never called")

    def get_state(self):
        return {}


class Raising(BaseLoopDecider):
    def should_continue(self, context):
        raise ValueError("no verdict")


class RaisingOnComplete(BaseLoopDecider):
    def should_continue(self, context):
        return self.decision(context, "continue", "fine so far")

    def on_iteration_complete(self, context, decision):
        raise KeyError("seen")


class ReturnsDict(BaseLoopDecider):
    def should_continue(self, context):
        return {"continue": False, "reason": "a dict says stop", "action": "complete", "metadata": {"via": "dict"}}


class ReturnsBadDict(BaseLoopDecider):
    def should_continue(self, context):
        return {"continue": False, "action": "explode"}


class ReturnsJunk(BaseLoopDecider):
    def should_continue(self, context):
        return "yes"


class UnreadyMetadata(BaseLoopDecider):
    def should_continue(self, context):
        return self.decision(context, "continue", "a set in metadata", seen={1, 2})


class BadState(BaseLoopDecider):
    def should_continue(self, context):
        return self.decision(context, "continue", "fine")

    def get_state(self):
        return {"seen": {1, 2}}


class BadInit(BaseLoopDecider):
    def __init__(self, config):
        raise RuntimeError(f"cannot use {sorted(config)}")

    def should_continue(self, context):
        raise AssertionError("never called")


class NoConfig:
    """Takes no config and has no max_iterations: the custom setting gives it."""

    def __init__(self):
        self.state = {}

    def on_iteration_start(self, iteration):
        pass

    def should_continue(self, context):
        raise AssertionError("never called")

    def on_iteration_complete(self, context, decision):
        pass

    def on_run_complete(self, decision):
        pass

    def get_state(self):
        return self.state

    def restore_state(self, state):
        self.state = state
