"""The workflow sandbox checks Orchard's own workflow code: only third-party libraries and pure
model modules pass through it, and those share nothing with the code it checks."""

from __future__ import annotations

import ast
from pathlib import Path

from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

from orchard_common.code import ROOT
from orchard_common.sandbox import SHARED_MODULES, sandbox_runner


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
