"""The strategy SDK without a server: names, workflow types, branch names."""

from __future__ import annotations

import pytest

from workflows.sdk.models import instance_branch, is_protected_ref
from workflows.sdk.strategy import strategy_name_from_class
from workflows.strategies import BUILTIN_STRATEGIES


@pytest.mark.parametrize(
    "cls, name",
    [("BestOfNStrategy", "best-of-n"), ("FanOutStrategy", "fan-out"), ("SimpleStrategy", "simple"), ("HTTPFixStrategy", "http-fix")],
)
def test_names_derive_from_class(cls, name):
    assert strategy_name_from_class(cls) == name


def test_builtins_are_workflow_types_named_after_the_strategy():
    assert set(BUILTIN_STRATEGIES) == {
        "simple", "best-of-n", "iterative", "bug-finding", "doc-review", "multi-branch", "shadow", "round-robin"}
    for name, cls in BUILTIN_STRATEGIES.items():
        assert cls.workflow_class().__temporal_workflow_definition.name == name


def test_branch_names_and_protected_refs():
    assert instance_branch("best-of-n", "run_1", "candidate/1").startswith("orchard/best-of-n/run_1/k")
    assert len(instance_branch("s", "r", "k").rsplit("/k", 1)[1]) == 8
    for ref in ("main", "master", "develop", "release/1.2", "refs/heads/main"):
        assert is_protected_ref(ref)
    assert not is_protected_ref("orchard/simple/run_1/kabcdef12")


