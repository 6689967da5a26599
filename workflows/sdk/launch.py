"""What the client must know of a strategy before it starts a run of it.

Strategies of instances need nothing special; a loop, a runbook pipeline and a queue consumer
differ in a few ways the client checks before it starts one. They say so by giving their Strategy
a Launch of their own, so the Strategy base grows no hook per feature.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Launch:
    """The default: a run of instances, each on its own branch, on any repository."""

    local_repository_only: ClassVar[bool] = False
    """True: its runs write the repository in place (a loop's branch, a pipeline's gateway), so it
    cannot run on a git remote (`--repo URL`, `--remote`); an instance's work can."""
    module_params: ClassVar[tuple[str, ...]] = ()
    """Parameters naming Python code a run uses (a custom loop decider's `module`): the client loads
    them (making paths absolute) and starts a worker that imports them too."""

    def needs_agent_command(self, params: dict[str, Any]) -> bool:
        """Whether runs with these params need the run's agent command (the command plugin's
        --agent-command): true unless the strategy knows its agents bring their own, or it runs none."""
        return True

    def run_id(self, params: dict[str, Any], repo: str) -> str | None:
        """A fixed run id for runs with these params on `repo` (one such run at a time), or None for a new id per run."""
        return None

    def worker_modules(self, params: dict[str, Any]) -> list[str]:
        """The modules (`/abs/path.py[:Class]`, `pkg.mod:Class`) a run's module_params name."""
        return [str(params[k]) for k in self.module_params if params.get(k)]
