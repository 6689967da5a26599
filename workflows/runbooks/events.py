"""Event patterns as a runbook writes them: `pipeline:{name}:merged`, `phase:*`, `bug:created`.

An event is words separated by `:`; a pattern is the same, where a word may be `*` (any one word)
and may hold template variables (`{name}`, rendered before matching). Words are letters, digits
and `_ . / -`. A rendered pattern matches events as the SDK's do (workflows/sdk/events.py).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"(?:[A-Za-z0-9_./-]|\{[^{}]+\})+|\*")


def check_pattern(pattern: str) -> None:
    """Raises ValueError saying what is wrong with the pattern."""
    words = pattern.split(":")
    if len(words) < 2:
        raise ValueError(f"event pattern {pattern!r} has one word; write kind:name[:what], e.g. pipeline:{{name}}:merged or phase:*")
    for word in words:
        if not _WORD.fullmatch(word):
            shown = word or "(empty)"
            raise ValueError(f"event pattern {pattern!r}: {shown!r} is not a word (letters, digits, _ . / -, a {{variable}}, or *)")
