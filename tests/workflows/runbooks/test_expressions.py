"""Queue filters (Jinja2 expressions in the sandbox) and orders."""

from __future__ import annotations

import pytest

from workflows.runbooks.expressions import check_filter, matches, ordered, parse_order

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


@pytest.mark.parametrize(("expression", "advice"), [
    ("a && b", "write `and` instead of `&&`"),
    ("a || b", "write `or` instead of `||`"),
    ("!has_label('x')", "write `not x` instead of `!x`"),
    ("'{config.labels}' == ''", "write config.labels, not '{config.labels}'"),
    ("has_any_label({config.labels})", "not a template"),
])
def test_otters_shell_spelling_is_refused_with_how_to_write_it(expression: str, advice: str) -> None:
    with pytest.raises(ValueError, match="filter") as raised:
        check_filter(expression, set())
    assert advice in str(raised.value)


def test_not_equal_and_strings_holding_bangs_are_not_mistaken_for_otters_spelling() -> None:
    check_filter("title != 'hello!' and x != 1", set())


def test_unknown_functions_and_bad_syntax_are_refused() -> None:
    with pytest.raises(ValueError, match=r"calls affects_dir\(\), which is not a function here; functions: age"):
        check_filter("affects_dir('src')", set())
    check_filter("affects_dir('src')", {"affects_dir"})
    with pytest.raises(ValueError, match="unexpected 'b' after the expression"):
        check_filter("a b", set())


def test_a_filter_that_fails_on_an_item_names_the_filter_and_the_item() -> None:
    with pytest.raises(ValueError, match=r"filter 'severity > 2' on \{'id': 5.*'severity' is undefined"):
        matches("severity > 2", BUG, {})


def test_orders_sort_by_each_key_in_turn_and_put_missing_fields_last() -> None:
    items = [{"id": 1, "p": 1}, {"id": 2}, {"id": 3, "p": 3}, {"id": 4, "p": 3}, {"id": 5, "p": 2}]
    assert [i["id"] for i in ordered(items, parse_order("p DESC, id DESC"))] == [4, 3, 5, 1, 2]
    assert [i["id"] for i in ordered(items, parse_order("p"))] == [1, 5, 3, 4, 2]
    with pytest.raises(ValueError, match="cannot read 'p UP'"):
        parse_order("p UP")
