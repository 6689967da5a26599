"""What a strategy written for Pitaya asks of ctx that Orchard's ctx does not have, and what to use
instead: said by ctx when a strategy asks for it (context.py), and by the loader, which finds the
plain uses of `ctx._orchestrator` in a strategy file before any run starts (orchard_common/strategy_source.py)."""

from __future__ import annotations

ORCHESTRATOR = "_orchestrator"
"""Pitaya's orchestrator on ctx: its built-ins read `repo_path`, `results_dir`, the event bus and the run's state from it."""

_INSTEAD = {
    ORCHESTRATOR: (
        "Pitaya's private orchestrator; Orchard has none in a strategy (a Temporal workflow reaches the repository only through its instances): "
        "use ctx.run_id (the run's id), ctx.base_branch and ctx.base_commit, self.defaults.model and .plugin (the run's model and plugin), "
        "result.branch_name and result.commit (what an instance left), and await ctx.verify(result, \"CMD\") to check a file or run a "
        "command on a result's commit (Pitaya's repo_path)"
    ),
    "_strategy_name": "Pitaya's private copy of the strategy's name: use self.name",
    "_strategy_execution_id": "Pitaya's private run id: use ctx.run_id",
    "_instance_counter": "Pitaya's private count of instances: use len(ctx.progress) (the instances this run asked for)",
    "_rand": "Pitaya's private random source: use ctx.rand() (deterministic, the same on replay)",
    "spawn_instance": "Pitaya's older instance API: use handle = await ctx.run(task, key=ctx.key(...)), then await ctx.wait(handle)",
    "parallel": "Pitaya's older wait for instance handles: use await ctx.wait_all(handles)",
    "emit_event": (
        "Pitaya's event bus, which Orchard does not have: use self.logger.info(...) for a note, ctx.report(key, name=value) for an "
        "instance's metrics, ctx.phase = \"...\" for what the run does now, or await ctx.emit(\"event\") to tell other runs"
    ),
}


def has_advice(name: str) -> bool:
    """Whether `ctx.<name>` is one of Pitaya's that Orchard spells otherwise."""
    return name in _INSTEAD


def missing_attribute_advice(name: str) -> str:
    """One line: `ctx.<name>` does not exist in Orchard, and what to use instead."""
    instead = _INSTEAD.get(name)
    if instead is not None:
        return f"ctx.{name} is {instead}"
    return f"ctx.{name} is private and Orchard's ctx has no such attribute: use ctx's public API (see 'The API' in Writing a strategy)"
