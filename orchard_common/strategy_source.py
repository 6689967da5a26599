"""A strategy file read before any run starts, for what cannot work in Orchard whichever path the
run takes: a plain use of Pitaya's private orchestrator (`ctx._orchestrator`), which fails where it
is reached, after the agents before it were paid for. A use the code guards (inside a `try` that
catches AttributeError or Exception, `getattr(ctx, "_orchestrator", None)`) is left to run: there
ctx answers as for any missing attribute."""

from __future__ import annotations

import ast
from pathlib import Path

from workflows.sdk.pitaya import ORCHESTRATOR, missing_attribute_advice

_CATCHING = {"Exception", "BaseException", "AttributeError"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)


def _catches_attribute_errors(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return caught is None or any(isinstance(n, ast.Name) and n.id in _CATCHING or isinstance(n, ast.Attribute) and n.attr in _CATCHING
                                 for n in names)


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a `try` body (of the same function) one of whose handlers catches an AttributeError."""
    child, parent = node, parents.get(node)
    while parent is not None and not isinstance(child, _SCOPES):
        if isinstance(parent, (ast.Try, ast.TryStar)) and child in parent.body and any(_catches_attribute_errors(h) for h in parent.handlers):
            return True
        child, parent = parent, parents.get(parent)
    return False


def _reads_orchestrator(node: ast.AST) -> bool:
    """`ctx._orchestrator` (not `self._orchestrator`: a class of the user's own), or `getattr(ctx, "_orchestrator")` with no default."""
    if isinstance(node, ast.Attribute) and node.attr == ORCHESTRATOR:
        return not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) == 2
            and isinstance(node.args[1], ast.Constant) and node.args[1].value == ORCHESTRATOR)


def orchestrator_use(path: Path) -> tuple[int, str] | None:
    """The first unguarded use of Pitaya's orchestrator in the file: its line and what to use instead."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):  # it imported, so this is a file that changed since: nothing to add
        return None
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    uses = sorted(n.lineno for n in ast.walk(tree) if isinstance(n, ast.expr) and _reads_orchestrator(n) and not _guarded(n, parents))
    return (uses[0], missing_attribute_advice(ORCHESTRATOR)) if uses else None
