"""A queue item as its handler sees it (workflows/runbooks/items.py) and the branch a pipeline works
on (workflows/runbooks/branches.py): otters' spellings of issue 26, items 1 and 2."""

from __future__ import annotations

import pytest

from workflows.runbooks.branches import pipeline_branch
from workflows.runbooks.items import handler_inputs, item_name, item_values
from workflows.runbooks.model import PhaseDef, PipelineDef, RunShell, Template


def pipeline(inputs: list[str], defaults: dict[str, str] | None = None) -> PipelineDef:
    phase = PhaseDef(name="a", action=RunShell(command=Template(source="true", runbook="ops", shell=True)))
    return PipelineDef(ref="ops.pipeline.p", name="p", inputs=inputs, phases=[phase],
                       defaults={k: Template(source=v, runbook="ops") for k, v in (defaults or {}).items()})


def test_the_item_is_named_after_its_queue() -> None:
    assert [item_name(q) for q in ("issues", "bugs", "merges", "work", "process", "s")] == ["issue", "bug", "merge", "work", "process", "s"]
    item = {"id": 7, "title": "Crash", "not a name": 1}
    assert item_values(item, "issues") == {"id": 7, "title": "Crash", "item": item, "issue": item}
    assert item_values("a line", "bugs") == {"item": "a line", "bug": "a line"}


@pytest.mark.parametrize(("inputs", "defaults", "item", "expected"), [
    (["branch", "pipeline"], {}, {"id": "m1", "branch": "feature/a", "pipeline": ""}, {"branch": "feature/a", "pipeline": ""}),  # otters' mergeq
    (["bug"], {}, {"id": 3, "title": "x"}, {"bug": {"id": 3, "title": "x"}}),  # named after the queue bugs
    (["item"], {}, {"id": 3}, {"item": {"id": 3}}),
    (["ticket"], {}, {"id": 3}, {"ticket": {"id": 3}}),  # the one required input no field fills
    (["ticket"], {}, "a line", {"ticket": "a line"}),
    (["name", "tag"], {"tag": "v1"}, {"name": "auth", "tag": "v2"}, {"name": "auth", "tag": "v2"}),  # a default's input too
    (["bug", "branch"], {}, {"id": 3, "branch": "fix/3"}, {"branch": "fix/3", "bug": {"id": 3, "branch": "fix/3"}}),
])
def test_a_handler_pipeline_s_inputs_come_from_the_item_s_fields_by_name(inputs: list[str], defaults: dict[str, str], item: object,
                                                                         expected: dict[str, object]) -> None:
    assert handler_inputs(pipeline(inputs, defaults), item, "bugs") == expected


def test_inputs_no_field_gives_are_named_with_the_fields_there_are() -> None:
    with pytest.raises(ValueError, match=r"pipeline p needs pipeline, which the item does not have \(its fields: branch, id\)"):
        handler_inputs(pipeline(["branch", "pipeline"]), {"id": "m1", "branch": "feature/a"}, "merges")
    with pytest.raises(ValueError, match="needs name, prompt"):
        handler_inputs(pipeline(["name", "prompt"]), "a line", "builds")


def test_a_branch_default_is_the_branch_and_one_orchard_may_not_work_on_is_refused() -> None:
    assert pipeline_branch({}, {}, "fix", "run_1") == ("orchard/runbook/fix/run_1", False)
    assert pipeline_branch({"branch": "fix/{bug.id}"}, {"branch": "fix/7"}, "fix", "run_1") == ("fix/7", True)
    for name, why in (("main", "is a protected branch"), ("release/2.0", "is a protected branch"), ("fix 7", "is not a branch name"),
                      ("-x", "is not a branch name"), ("refs/heads/x", "is not a branch name"), ("", "is not a branch name"), ("a..b", "is not a branch name")):
        with pytest.raises(ValueError, match=f"pipeline fix: branch = {name!r} {why}"):
            pipeline_branch({"branch": "{x}"}, {"branch": name}, "fix", "run_1")
