"""Event patterns: words separated by `:`, `*` for any one word, template variables."""

from __future__ import annotations

import pytest

from workflows.runbooks.events import check_pattern
from workflows.sdk.events import matches


def test_patterns_are_checked_and_match_word_by_word() -> None:
    for pattern in ("pipeline:{name}:merged", "phase:*", "bug:created", "pipeline:{after.id}:complete"):
        check_pattern(pattern)
    assert matches("phase:*", "phase:plan") and not matches("phase:*", "phase:plan:x")
    assert matches("pipeline:auth:merged", "pipeline:auth:merged") and not matches("pipeline:auth:merged", "pipeline:auth:fail")


@pytest.mark.parametrize(("pattern", "says"), [
    ("created", "has one word"), ("pipeline::merged", "'(empty)' is not a word"), ("bug:new one", "'new one' is not a word"),
])
def test_bad_patterns_say_why(pattern: str, says: str) -> None:
    with pytest.raises(ValueError, match="event pattern") as raised:
        check_pattern(pattern)
    assert says in str(raised.value)
