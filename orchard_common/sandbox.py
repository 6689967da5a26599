"""The workflow sandbox every Orchard worker and replay runs workflows in.

Temporal's sandbox imports a run's workflow code afresh for every run and checks it: a module that
reads the clock, touches the disk or draws randomness as it runs is refused. Orchard's own
workflow code (the SDK's runtime and context, the built-in strategies, loops, runbook pipelines
and queue workers, the coordination workflows) is checked like any strategy file. What passes
through instead, shared with the worker's process, is only what must be:

- third-party libraries the workflow code uses, deterministic as used (Temporal passes the
  standard library and its own modules through already);
- Orchard's pure model modules: pydantic models (and the constants and pure functions beside them)
  that the workflows, the activities and the client exchange, the errors strategies raise, and the
  registries names are kept in. Importing the models again for every run would cost most of a
  run's start (pydantic builds each model's validator), and the registries are shared on purpose:
  a strategy or loop mode registered by the worker is known in every run (workflows/sdk/registry.py).

A module listed here imports only modules listed here (or passed through by Temporal): one copy of
each model class, inside the sandbox and out (tests/orchard_common/test_sandbox.py checks both).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from orchard_common.code_cache import keep_compiled_code

if TYPE_CHECKING:
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

THIRD_PARTY = ("pydantic", "jinja2", "markupsafe")
"""Libraries workflow code imports: models (pydantic) and the runbooks' templates (jinja2)."""

SHARED_MODULES = (
    "workflows.sdk.models",
    "workflows.sdk.trail",
    "workflows.sdk.quota",
    "workflows.sdk.budget",
    "workflows.sdk.shared_budgets",
    "workflows.sdk.projection",
    "workflows.sdk.notify",
    "workflows.sdk.entities",
    "workflows.sdk.errors",
    "workflows.sdk.registry",
    "workflows.sdk.durations",
    "workflows.sdk.secret_names",
    "workflows.coordination.states",
    "workflows.loops.models",
    "workflows.loops.modes.settings",
    "workflows.loops.modes.agentgate_context",
    "workflows.runbooks.model",
    "workflows.runbooks.reading",
    "workflows.runbooks.templates",
    "workflows.runbooks.shell",
    "workflows.runbooks.expressions",
    "workflows.runbooks.events",
    "workflows.runbooks.arguments",
    "workflows.runbooks.steps",
    "workflows.runbooks.branches",
    "workflows.runbooks.chain",
    "workflows.runbooks.monitors",
    "workflows.runbooks.ladder",
    "workflows.runbooks.consumer_state",
)
"""Orchard's modules shared with the sandbox: pure models (and durations, the models' value type;
the runbook models' readers, template and branch-name checks, which validate them; a strategy
chain's state machine, pure functions of its models), errors and the registries. What is not listed,
every workflow imports again in its first task (and on replay), from code read once per process
(orchard_common/code_cache.py): a loop's whole replay took 85 ms of CPU here, 97-118 ms before the
loop modes' settings and the coordination, consumer and cron models were listed."""


_checked: set[type] = set()
"""Workflow classes this process's sandbox has checked (every runner here has the same restrictions)."""

ORCHARD_WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
"""Orchard's own workflow code: the built-in strategies, loops, runbooks and coordination workflows."""


def orchard_own(cls: type) -> bool:
    """Whether a workflow class is Orchard's own (defined under workflows/ of this install), not a
    strategy file's."""
    source = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return source is not None and Path(source).resolve().is_relative_to(ORCHARD_WORKFLOWS)


def sandbox_runner(check_own: bool = False) -> SandboxedWorkflowRunner:
    """The workflow sandbox, with only THIRD_PARTY and SHARED_MODULES passed through. A worker's
    constructor checks each workflow class it registers, importing its modules in a fresh
    sandbox (1.4 s for Orchard's ~20 here, on a cold start's critical path): this runner checks a
    strategy file's classes, once per process, and Orchard's own only with `check_own`, as their
    test does (tests/orchard_common/test_sandbox.py); every run of them still imports them afresh
    under the same restrictions, which refuse what the check would."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions  # the worker's, not every command's

    keep_compiled_code()  # every run imports its workflow modules again: their code is read once
    quick = quick_instance_class()

    class Runner(SandboxedWorkflowRunner):
        def prepare_workflow(self, defn: Any) -> None:
            if defn.cls not in _checked and (check_own or not orchard_own(defn.cls)):
                super().prepare_workflow(defn)
                _checked.add(defn.cls)

        def create_instance(self, det: Any) -> Any:
            return quick(det, self.runner_class, self.restrictions) if quick is not None else super().create_instance(det)

    return Runner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*THIRD_PARTY, *SHARED_MODULES))


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> CodeType:
    return compile(code, "<string>", "exec")


@functools.cache
def quick_instance_class() -> type | None:
    """The SDK's sandboxed workflow instance, compiling each step's source once; None when this
    SDK's instance is not the one this was written for (its own is used then).

    The SDK's instance runs each step in the sandbox as a source string given to exec(), compiled
    anew each time: an activation, and for every payload of every activation and completion, six
    times over (its payload visitors' passes), asking the workflow which serialization context and
    store context the payload's command has. Compiling was ~4 % of a fan-out worker's CPU. Here each
    string is compiled once; what runs, and the sandbox it runs in, is the SDK's own."""
    try:
        from temporalio.worker.workflow_sandbox._runner import _Instance
    except ImportError:
        return None
    if not hasattr(_Instance, "_run_code"):
        return None

    class QuickInstance(_Instance):
        def _run_code(self, code: str, **extra_globals: Any) -> None:
            super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]  # exec() takes code as it takes source

    return QuickInstance
