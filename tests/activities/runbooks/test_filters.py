"""Queue filters evaluated on items (with this host's clock for age()), and orders applied."""

from __future__ import annotations

import pytest

from activities.runbooks.filters import matches, ordered
from workflows.runbooks.expressions import check_filter, parse_order

BUG = {"id": 5, "title": "fix login", "priority": 3, "labels": ["bug", "auth"], "created_at": "2020-01-01T00:00:00Z"}


@pytest.mark.parametrize(("expression", "expected"), [
    ("not has_label('assigned')", True),
    ("priority > 2 and 'bug' in labels", True),
    ("priority > 3 or has_all_labels(['bug', 'ui'])", False),
    ("has_any_label(config.wanted)", True),
    ("title.startswith('fix') and id != 4", True),
    ("age(created_at) > duration('7d')", True),
    ("item.priority == priority", True),
])
def test_filters_read_an_item_s_fields_config_and_the_documented_functions(expression: str, expected: bool) -> None:
    check_filter(expression, set())
    assert matches(expression, BUG, {"wanted": ["ui", "auth"]}) is expected


def test_a_lines_item_is_item() -> None:
    assert matches("item.startswith('oj-')", "oj-1", {}) and not matches("item.startswith('oj-')", "tmux-2", {})


def test_runbook_functions_get_the_item_and_their_keyword_arguments() -> None:
    calls = []

    def affects_dir(item: dict, kwargs: dict) -> bool:
        calls.append((item["id"], kwargs))
        return kwargs["dir"] == "src"

    assert matches("affects_dir(dir='src')", BUG, {}, {"affects_dir": affects_dir})
    assert calls == [(5, {"dir": "src"})]


def test_a_filter_that_fails_on_an_item_names_the_filter_and_the_item() -> None:
    with pytest.raises(ValueError, match=r"filter 'severity > 2' on \{'id': 5.*'severity' is undefined"):
        matches("severity > 2", BUG, {})


def test_orders_sort_by_each_key_in_turn_and_put_missing_fields_last() -> None:
    items = [{"id": 1, "p": 1}, {"id": 2}, {"id": 3, "p": 3}, {"id": 4, "p": 3}, {"id": 5, "p": 2}]
    assert [i["id"] for i in ordered(items, parse_order("p DESC, id DESC"))] == [4, 3, 5, 1, 2]
    assert [i["id"] for i in ordered(items, parse_order("p"))] == [1, 5, 3, 4, 2]


def test_age_is_measured_from_the_clock_given_one_instant_for_a_whole_poll() -> None:
    assert matches("age(created_at) == 5", {"created_at": 100}, {}, now=105)
    assert matches("age(created_at) == 86400", {"created_at": "1970-01-02T00:00:00Z"}, {}, now=172800)
