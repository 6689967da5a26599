"""Queue filters (Jinja2 expressions in the sandbox) and orders, as a runbook writes them: checked and read."""

from __future__ import annotations

import pytest

from activities.runbooks.filters import matches
from workflows.runbooks.expressions import check_filter, otters_filter, parse_order

LOOP_FILTER = """('{config.labels}' == '' || has_any_label({config.labels})) &&
('{config.dir_filter}' == '' || affects_dir('{config.dir_filter}'))"""
"""otters' loop runbook's filter, as written."""


@pytest.mark.parametrize(("expression", "reads"), [
    ("a && b", "a  and  b"),
    ("a || !b", "a  or   not b"),
    ("!has_label('x!') && title != '!'", "not has_label('x!')  and  title != '!'"),
    ("'{config.labels}' == ''", "((config.labels | as_text)) == ''"),
    ("has_any_label({config.labels})", "has_any_label((config.labels))"),
    ("title == 'fix-{config.prefix}!'", "title == ('fix-' ~ (config.prefix | as_text) ~ '!')"),
])
def test_otters_spelling_reads_as_the_expression_it_means(expression: str, reads: str) -> None:
    """Issue 26, item 7: accepted, not refused with advice."""
    assert otters_filter(expression) == reads
    check_filter(expression, set())


@pytest.mark.parametrize(("labels", "dir_filter", "kept"), [
    ([], "", [1, 2, 3]),  # no labels configured: every item
    (["bug"], "", [1, 3]),  # else those with one of them
    ([], "src", [1, 2, 3]),  # affects_dir('src') is called with the configured folder (it holds here)
])
def test_otters_loop_filter_means_what_it_means_in_otters(labels: list[str], dir_filter: str, kept: list[int]) -> None:
    items = [{"id": 1, "labels": ["bug"]}, {"id": 2, "labels": ["docs"]}, {"id": 3, "labels": ["bug", "ui"]}]
    called: list[object] = []

    def affects_dir(item: object, arguments: dict[str, object]) -> bool:
        called.append(arguments)
        return True

    check_filter(LOOP_FILTER, {"affects_dir"})
    config = {"labels": labels, "dir_filter": dir_filter}
    assert [i["id"] for i in items if matches(LOOP_FILTER, i, config, {"affects_dir": affects_dir})] == kept
    assert called == ([{"args": [dir_filter]}] * 3 if dir_filter else [])


def test_not_equal_and_strings_holding_bangs_are_not_mistaken_for_otters_spelling() -> None:
    check_filter("title != 'hello!' and x != 1", set())


def test_unknown_functions_and_bad_syntax_are_refused() -> None:
    with pytest.raises(ValueError, match=r"calls affects_dir\(\), which is not a function here; functions: age"):
        check_filter("affects_dir('src')", set())
    check_filter("affects_dir('src')", {"affects_dir"})
    with pytest.raises(ValueError, match="unexpected 'b' after the expression"):
        check_filter("a b", set())


def test_orders_that_cannot_be_read_say_which_part() -> None:
    with pytest.raises(ValueError, match="cannot read 'p UP'"):
        parse_order("p UP")
