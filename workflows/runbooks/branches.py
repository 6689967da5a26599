"""The branch a pipeline run works on. Orchard's own, `orchard/runbook/<pipeline>/<run_id>`,
unless the pipeline names one as otters' runbooks do: `[pipeline.fix.defaults] branch =
"fix/{bug.id}"` (an input of that name, given, wins over the default as for any default).

A branch the runbook names is written under Orchard's rules for what a run may write: it is made
new by the run's first step that commits (a branch that is already there is never taken over),
moved only from where the run left it, never a protected one (main, release/…), and what the
run pushes to its `origin` lands only on it and on the branches the pipeline publishes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workflows.sdk.models import is_protected_ref

BRANCH = re.compile(r"(?!/)(?!-)(?!.*(?:\.\.|//|@\{|\.lock$|/$|\.$))[A-Za-z0-9._/-]+")
"""A branch name git takes (and a shell reads as one word)."""


def branch_problem(name: str) -> str | None:
    """Why `name` cannot be the branch a pipeline works on, or None."""
    if not BRANCH.fullmatch(name) or name.startswith("refs/"):
        return f"{name!r} is not a branch name (e.g. fix/42, feature/auth)"
    if is_protected_ref(name):
        return f"{name!r} is a protected branch: a pipeline works on a branch of its own (publish = [\"{name}\"] lets it push there)"
    return None


def pipeline_branch(defaults: Mapping[str, Any], values: Mapping[str, Any], pipeline: str, run_id: str) -> tuple[str, bool]:
    """The branch a run works on, and whether the runbook named it (its `branch` default, rendered
    in `values`). Raises ValueError for a name it may not work on."""
    if "branch" not in defaults:
        return f"orchard/runbook/{pipeline}/{run_id}", False
    name = str(values.get("branch", "")).strip()
    problem = branch_problem(name)
    if problem is not None:
        raise ValueError(f"pipeline {pipeline}: branch = {problem}")
    return name, True
