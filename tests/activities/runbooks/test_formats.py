"""What a queue's source prints, made items."""

from __future__ import annotations

import pytest

from activities.runbooks.formats import InputError, parse_input


def test_json_is_a_list_one_object_or_one_value_per_line() -> None:
    assert parse_input('[{"id": 1}, {"id": 2}]', "json") == [{"id": 1}, {"id": 2}]
    assert parse_input('{\n  "id": 1\n}\n', "json") == [{"id": 1}]
    assert parse_input('{"id": 1}\n\n{"id": 2}\n', "json") == [{"id": 1}, {"id": 2}]
    assert parse_input("  \n", "json") == []


def test_lines_csv_and_kv() -> None:
    assert parse_input("oj-1\n\n  oj-2 \n", "lines") == ["oj-1", "oj-2"]
    assert parse_input('id,priority,title\n1,3,fix a\n2,1.5,"b, c"\n\n', "csv") == [
        {"id": 1, "priority": 3, "title": "fix a"}, {"id": 2, "priority": 1.5, "title": "b, c"}]
    assert parse_input('id=1 title="Fix login" p=2\n\nid=2\n', "kv") == [{"id": 1, "title": "Fix login", "p": 2}, {"id": 2}]


@pytest.mark.parametrize(("output", "fmt", "line", "says"), [
    ('{"id": 1}\nnot json\n', "json", 2, "not JSON: Expecting value"),
    ('{\n "a": \n}', "json", 3, "not JSON"),
    ("a,b\n1,2\n3\n", "csv", 3, "1 values for 2 columns (a, b)"),
    ("a,a\n1,2\n", "csv", 1, "distinct"),
    ("id=1 oops\n", "kv", 1, "'oops' is not key=value"),
    ('id="1\n', "kv", 1, "No closing quotation"),
])
def test_what_a_format_cannot_read_names_the_line(output: str, fmt: str, line: int, says: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_input(output, fmt)  # type: ignore[arg-type]
    assert raised.value.line == line and str(raised.value).startswith(f"line {line}: ") and says in str(raised.value)
