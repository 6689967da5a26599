"""Every runbook the tests load, the examples, the broken fixtures and a folder of messages
(golden/messages/) load today as they did when golden/cases.json was recorded: the same problems
and warnings, word for word, and for a valid set the same runtime runbooks, value for value.
golden/record.py says how the cases were recorded (with the loader before the runbook schema was
described once); recorded histories carry these values, so they do not change by accident.

golden/changed.json lists each problem said differently since, and why: nothing else may change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.client.runbooks.golden.record import CASES, replay_case
from workflows.runbooks import model as m

GOLDEN = CASES.parent
_cases: dict[str, Any] = json.loads(CASES.read_text())
_changed: dict[str, Any] = json.loads((GOLDEN / "changed.json").read_text())


@pytest.mark.parametrize("key", list(_cases), ids=lambda k: f"{_cases[k]['source'].rsplit('/', 1)[-1]}-{k[:6]}")
def test_a_recorded_runbook_set_loads_as_it_did(key: str, tmp_path: Path) -> None:
    case = _cases[key]
    found = replay_case(case, tmp_path / "runbooks")
    expected = case["expected"]
    changed = _changed.get(key, {})
    gone, new = [c["problem"] for c in changed.get("no longer said", [])], [c["problem"] for c in changed.get("now said", [])]
    assert set(gone) <= set(expected["problems"]) and not set(new) & set(expected["problems"])
    assert sorted(found["problems"]) == sorted([p for p in expected["problems"] if p not in gone] + new)
    assert found["warnings"] == expected["warnings"]
    assert found.get("runbooks") == expected.get("runbooks")


def _shape(schema: Any) -> Any:
    """A JSON schema without what does not change a payload: descriptions, and bounds a valid
    runbook's values were always within (max_visits >= 1 was checked by the loader)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("description", "minimum", "maximum", "minItems", "maxItems")}
    return [_shape(v) for v in schema] if isinstance(schema, list) else schema


def test_the_runtime_models_serialize_as_they_did() -> None:
    """What a workflow's input carries (a RunbookSet) keeps its shape: recorded histories replay."""
    schema = m.RunbookSet.model_json_schema(mode="serialization")
    assert _shape(schema) == _shape(json.loads((GOLDEN / "runbook_set.schema.json").read_text()))
