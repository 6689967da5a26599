"""What Orchard says of a result is typed (InstanceResult.selection, .loop, .pipeline, ...), read
from the metadata keys it had before (recorded histories, older workers) and written back under
them where users' scripts read JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.conftest import ROOT
from workflows.sdk.models import LEGACY_KEYS, InstanceResult, RunProgress, RunResult, Selection
from workflows.sdk.trail import ItemRecord, IterationRecord, PhaseRecord, StepRecord, TrailRow, as_trail_row

HISTORIES = sorted((ROOT / "tests" / "histories").glob("*.json"))


def _results(node: Any) -> list[dict[str, Any]]:
    """Every instance result in a decoded payload (a run's result, an activity's, a child's)."""
    if isinstance(node, list):
        return [r for item in node for r in _results(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if "success" in node and isinstance(node.get("metadata"), dict) else []
    return own + [r for value in node.values() for r in _results(value)]


def _recorded_results(history: Any) -> list[dict[str, Any]]:
    found = []
    for event in json.loads(history.read_text())["events"]:
        for name, attributes in event.items():
            if not name.endswith("Attributes") or not isinstance(attributes, dict):
                continue
            for payload in (attributes.get("result") or attributes.get("input") or {}).get("payloads", []):
                try:
                    found += _results(json.loads(base64.b64decode(payload["data"])))
                except ValueError:
                    continue
    return found


def _rows_compact(metadata: dict[str, Any]) -> dict[str, Any]:
    """A loop's iterations and a pipeline's phases without their fields at defaults, as Orchard has
    written them since before the typed fields (the oldest recorded results have them whole)."""
    rows = {"iterations": IterationRecord, "phases": PhaseRecord}
    return {k: [rows[k].model_validate(r).model_dump(mode="json", exclude_defaults=True) for r in v] if k in rows else v for k, v in metadata.items()}


@pytest.mark.parametrize("history", HISTORIES, ids=lambda p: p.stem)
def test_every_recorded_result_reads_into_the_typed_fields_and_prints_its_metadata_as_before(history):
    for recorded in _recorded_results(history):
        result = InstanceResult.model_validate(recorded)
        assert not set(result.metadata) & LEGACY_KEYS, f"{history.stem}: left in metadata: {sorted(set(result.metadata) & LEGACY_KEYS)}"
        printed, before = _rows_compact(result.legacy_dump()["metadata"]), _rows_compact(recorded["metadata"])
        assert printed | before == printed, f"{history.stem}: {before} printed as {printed}"
        again = InstanceResult.model_validate(result.model_dump(mode="json"))  # the new shape, on the wire, reads back the same
        assert again == result


def test_the_recorded_histories_hold_each_kind_of_orchard_metadata():
    fields = {f for h in HISTORIES for r in _recorded_results(h) for f in ("selection", "verification", "variant", "loop", "pipeline", "queue", "runner")
              if getattr(InstanceResult.model_validate(r), f) is not None}
    assert fields == {"selection", "verification", "variant", "loop", "pipeline", "queue", "runner"}


def test_a_user_s_own_key_that_only_shares_a_name_stays_in_metadata():
    mine = {"items": ["a", "b"], "candidate": "the blue one", "variant": {"name": "x"}, "comparison": 3, "pipeline": "ci", "runner": 7, "note": "n"}
    result = InstanceResult(success=True, metadata=mine)
    assert result.metadata == mine and result.queue is None and result.selection is None and result.variant is None and result.runner is None
    assert result.legacy_dump()["metadata"] == mine


def test_a_typed_field_given_keeps_the_user_s_key_of_the_same_name():
    result = InstanceResult(success=True, selection=Selection(winner=True, reason="best"), metadata={"winner": "my own"})
    assert result.metadata == {"winner": "my own"} and result.winner
    assert result.legacy_dump()["metadata"] == {"winner": True, "selection_reason": "best"}  # Orchard's key, as before


def test_a_strategy_that_still_writes_orchard_s_keys_gets_them_read_as_the_typed_fields():
    result = InstanceResult(success=True, metadata={"winner": True, "selection_reason": "picked", "shadow": True})
    assert result.winner and result.selection.reason == "picked"
    assert result.metadata == {"shadow": True}  # a shadow flag without its variant is not a variant's


def test_trail_rows_are_told_apart_by_their_kind():
    rows = TypeAdapter(list[TrailRow]).validate_python([
        IterationRecord(iteration=1, commit="c", action="continue", reason="r").model_dump(mode="json"),
        PhaseRecord(step=1, phase="p", visit=1, action="run", ok=True).model_dump(mode="json"),
        ItemRecord(id="1", status="done").model_dump(mode="json"),
        {"kind": "mine", "round": 3},
    ])
    assert [type(r) for r in rows] == [IterationRecord, PhaseRecord, ItemRecord, StepRecord] and rows[3].fields == {"round": 3}


def test_rows_from_a_worker_of_an_older_orchard_say_no_kind_and_are_told_apart_by_their_fields():
    progress = RunProgress.model_validate({"run_id": "r", "strategy": "loop", "phase": "running", "trail": [
        {"iteration": 1, "commit": "c", "action": "continue", "reason": "r"},
        {"step": 1, "phase": "plan", "visit": 1, "action": "run", "ok": True},
        {"id": "7", "status": "dead", "attempts": 2},
    ]})
    assert [type(r) for r in progress.trail] == [IterationRecord, PhaseRecord, ItemRecord]


def test_whatever_a_strategy_puts_in_its_trail_is_a_row():
    assert as_trail_row({"round": 1, "findings": []}) == StepRecord(round=1, findings=[])
    assert isinstance(as_trail_row({"phase": "half a phase"}), StepRecord)  # a phase's field, not a phase
    assert as_trail_row(Selection(reason="r")).fields["reason"] == "r"
    row = IterationRecord(iteration=1, commit="c", action="continue", reason="r")
    assert as_trail_row(row) is row


def test_a_long_loop_s_result_stays_compact_on_the_wire():
    from workflows.sdk.models import LoopSummary

    rows = [IterationRecord(iteration=n, commit="c" * 40, action="continue", reason="go on") for n in range(1, 2001)]
    result = InstanceResult(success=True, loop=LoopSummary(mode="fixed", action="timeout", iterations=2000, trail=rows))
    size = len(RunResult(run_id="r", strategy="loop", status="success", base_branch="m", base_commit="c", instances=[result],
                         duration_seconds=1.0).model_dump_json())
    assert size < 512 * 1024 and '"kind"' not in result.model_dump_json()
    assert InstanceResult.model_validate_json(result.model_dump_json()).loop.trail == rows
