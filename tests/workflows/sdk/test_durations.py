"""Durations as runbooks and loop settings write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.sdk.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("1d12h", 129600), ("1.5h", 5400), ("90", 90), (90, 90), (0.5, 0.5),
])
def test_people_s_durations_read_as_seconds(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5m5m", "30s1m", "5 minutes", "soon", "", "-5s", "0s", True])
def test_what_is_not_a_duration_says_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=10**8))
def test_a_formatted_duration_reads_back_as_the_same_seconds(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert text == text.strip() and " " not in text


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 30), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_parts_add_up_in_any_combination(d: int, h: int, m: int, s: int) -> None:
    text = "".join(f"{n}{u}" for n, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if n)
    if text:
        assert parse_duration(text) == d * 86400 + h * 3600 + m * 60 + s
