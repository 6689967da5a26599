"""A custom loop decider written against the LoopDecider protocol alone: it stops after
`stop_after` iterations (its config) and records every call it gets."""

from workflows.loops.models import Decision


class CountingLoop:
    max_iterations = 7
    runs_verification = False

    def __init__(self, config):
        self.config = config
        self.stop_after = config.get("stop_after", 2)
        self.calls = []
        self.seen = 0

    def on_iteration_start(self, iteration):
        self.calls.append(("on_iteration_start", iteration))

    def should_continue(self, context):
        self.calls.append(("should_continue", context.iteration))
        if context.iteration >= self.stop_after:
            return Decision.stop("complete", f"counted to {self.stop_after}", counted=context.iteration)
        return Decision.go_on(f"iteration {context.iteration} of {self.stop_after}")

    def on_iteration_complete(self, context, decision):
        self.calls.append(("on_iteration_complete", decision.action))
        self.seen = context.iteration

    def on_run_complete(self, decision):
        self.calls.append(("on_run_complete", decision.action))

    def get_state(self):
        self.calls.append(("get_state",))
        return {"seen": self.seen}

    def restore_state(self, state):
        self.calls.append(("restore_state", state))
        self.seen = state["seen"]

    def workspace_files(self, iteration):
        return {"notes/seen.txt": f"{self.seen} before {iteration}\n"}
