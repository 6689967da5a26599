"""Queue filters (Jinja2 expressions in the sandbox) and orders, as a runbook writes them: checked and read."""

from __future__ import annotations

import pytest

from workflows.runbooks.expressions import check_filter, parse_order


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


def test_orders_that_cannot_be_read_say_which_part() -> None:
    with pytest.raises(ValueError, match="cannot read 'p UP'"):
        parse_order("p UP")
