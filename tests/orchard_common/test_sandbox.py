"""The workflow sandbox checks Orchard's own workflow code: only third-party libraries and pure
model modules pass through it, and those share nothing with the code it checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

from orchard_common.code import ROOT
from orchard_common.sandbox import SHARED_MODULES, orchard_own, sandbox_runner
from orchard_common.strategy_loader import load_strategy
from orchard_worker.main import ENTITY_WORKFLOWS
from workflows.sdk.batches import InstanceBatchWorkflow
from workflows.strategies import BUILTIN_STRATEGIES

OWN_WORKFLOWS = [*(s.workflow_class() for s in BUILTIN_STRATEGIES.values()), *ENTITY_WORKFLOWS, InstanceBatchWorkflow]


def _workflow_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def test_only_the_shared_model_modules_of_orchard_s_workflow_code_pass_through():
    importer = Importer(sandbox_runner().restrictions, RestrictionContext())
    passed = {name for name in _workflow_modules() if importer.module_configured_passthrough(name)}
    assert passed == set(SHARED_MODULES)  # the SDK's runtime, the strategies, loops, runbooks: re-imported and checked


def test_a_shared_module_imports_no_module_the_sandbox_imports_again():
    """One copy of each class a shared module uses, inside the sandbox and out."""
    modules = _workflow_modules()
    for name in SHARED_MODULES:
        tree = ast.parse(modules[name].read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        orchards = {m for m in imported if m.split(".")[0] == "workflows"}
        assert orchards <= set(SHARED_MODULES), f"{name} imports {sorted(orchards - set(SHARED_MODULES))}, which the sandbox imports again"


def test_a_worker_checks_a_strategy_file_s_workflow_at_its_start_but_not_orchard_s_own(tmp_path, monkeypatch):
    """Checking Orchard's ~20 workflow classes took a cold start's worker 1.4 s, before it could
    poll; the slow test below checks them instead, and every run still imports them under the
    sandbox's restrictions."""
    (tmp_path / "mine_sandboxed.py").write_text("from workflows import Strategy\n"
                                                "class Mine(Strategy):\n    async def execute(self, p, b, ctx):\n        return []\n")
    mine = load_strategy(f"{tmp_path / 'mine_sandboxed.py'}:Mine").workflow_class()
    assert all(orchard_own(cls) for cls in OWN_WORKFLOWS) and not orchard_own(mine)
    checked: list[type] = []
    monkeypatch.setattr(SandboxedWorkflowRunner, "prepare_workflow", lambda self, defn: checked.append(defn.cls))
    runner = sandbox_runner()
    for cls in [*OWN_WORKFLOWS, mine]:
        runner.prepare_workflow(workflow._Definition.must_from_class(cls))
    assert checked == [mine]


@pytest.mark.slow
async def test_every_workflow_of_orchard_s_own_passes_the_sandbox_s_check():
    runner = sandbox_runner(check_own=True)
    for cls in OWN_WORKFLOWS:
        runner.prepare_workflow(workflow._Definition.must_from_class(cls))  # raises for a module the sandbox refuses
