"""A queue consumer's carried state (a runbook's queue worker) stays bounded however many items it handled."""

from __future__ import annotations

from workflows.runbooks.consumer import KEPT_SETTLED, ItemRecord, _pruned, item_id
from workflows.runbooks.consumer_state import ConsumerState


def test_the_oldest_settled_records_go_at_continue_as_new_and_every_open_or_dead_one_stays():
    items = {str(i): ItemRecord(id=str(i), status="dead" if i % 3 == 0 else "done") for i in range(3 * KEPT_SETTLED)}
    items["late"] = ItemRecord(id="late", status="failed", attempts=1)
    kept = _pruned(ConsumerState(items=items, listed_settled=["1"])).items
    done = [k for k, r in kept.items() if r.status == "done"]
    assert len(done) == KEPT_SETTLED and done[-1] == str(3 * KEPT_SETTLED - 1)  # the newest done ones
    assert sum(r.status == "dead" for r in kept.values()) == KEPT_SETTLED and kept["late"].status == "failed"


def test_an_item_is_known_by_its_id_else_by_its_content():
    assert item_id({"id": 7, "title": "x"}) == "7"
    assert item_id({"title": "x"}) == item_id({"title": "x"}) != item_id({"title": "y"})
    assert item_id("a line").startswith("sha-")


def test_a_stop_asked_while_a_run_of_the_chain_starts_is_kept_not_refused():
    import pytest

    from workflows.runbooks.consumer import QueueConsumerStrategy
    from workflows.sdk.errors import SteerRefused
    from workflows.sdk.models import SteerRequest

    consumer = QueueConsumerStrategy()  # just continued as new: its state is not read yet
    consumer.check_steer(SteerRequest(action="stop", by="ana"))
    assert consumer.steer(SteerRequest(action="stop", by="ana")) == "the worker ends as soon as it has started"
    with pytest.raises(SteerRefused, match=r"already asked to stop \(by ana\)"):
        consumer.check_steer(SteerRequest(action="stop", by="bo"))
    with pytest.raises(SteerRefused, match="takes stop, not 'nudge'"):
        QueueConsumerStrategy().check_steer(SteerRequest(action="nudge", by="bo"))
