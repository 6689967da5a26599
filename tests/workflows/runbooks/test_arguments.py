"""`[command.X] args`: the grammar and the words it reads."""

from __future__ import annotations

import pytest

from workflows.runbooks.arguments import parse_arg_spec


def test_positionals_options_flags_and_the_rest() -> None:
    spec = parse_arg_spec("<name> <prompt> [-a/--after <dep>] [--draft] [files]...")
    assert spec.parse(["auth", "Add auth", "-a", "login", "--draft", "x.py", "y.py"]) == {
        "name": "auth", "prompt": "Add auth", "after": "login", "draft": True, "files": ["x.py", "y.py"]}
    assert spec.parse(["auth", "Add auth", "--after=login"]) == {"name": "auth", "prompt": "Add auth", "after": "login", "files": []}
    assert spec.parse(["auth", "--", "--not-an-option"]) == {"name": "auth", "prompt": "--not-an-option", "files": []}
    assert spec.usage() == "<name> <prompt> [files]... [-a/--after <dep>] [--draft]"


def test_otters_older_aliases_add_short_names() -> None:
    spec = parse_arg_spec("<name> [--priority <n>]", {"p": "priority"})
    assert spec.parse(["x", "-p", "3"]) == {"name": "x", "priority": "3"}


@pytest.mark.parametrize(("words", "says"), [
    (["auth"], "missing <prompt>"),
    (["a", "b", "--nope"], "unknown option --nope"),
    (["a", "b", "--after"], "--after needs a value <dep>"),
    (["a", "b", "--draft=yes"], "--draft takes no value"),
])
def test_words_that_do_not_fit_say_so_with_the_usage(words: list[str], says: str) -> None:
    spec = parse_arg_spec("<name> <prompt> [-a/--after <dep>] [--draft]")
    with pytest.raises(ValueError, match="usage: <name> <prompt>") as raised:
        spec.parse(words)
    assert says in str(raised.value)


@pytest.mark.parametrize(("text", "says"), [
    ("<a> [b] <c>", "required <c> comes after optional [b]"),
    ("<a>... <b>", "comes after a..."),
    ("<a> name", "cannot read 'name'"),
    ("<a> [--a <x>]", "a named twice"),
])
def test_a_grammar_it_cannot_read_says_what(text: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_arg_spec(text)
    assert says in str(raised.value)
