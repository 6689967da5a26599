"""Durations as people write them: `90`, `30s`, `5m`, `2h`, `1h30m`, `1d12h`, `1.5h`.

Units go from the largest to the smallest, each at most once, so `5m5m` or `30s1m` is a mistake
said as one, not a sum.
"""

from __future__ import annotations

import re

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile("".join(f"(?:(?P<{u}>{_NUMBER}){u})?" for u, _ in _UNITS))
FORMS = "seconds (90) or 30s, 5m, 2h, 1h30m, 1d"


def parse_duration(value: str | float | int) -> float:
    """Seconds; a bare number is seconds. Raises ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: write {FORMS}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        elif text and match:
            seconds = sum(float(match[u]) * size for u, size in _UNITS if match[u])
        else:
            raise ValueError(f"{value!r} is not a duration: write {FORMS}")
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest way parse_duration reads back: 5400 -> "1h30m", 0.5 -> "0.5s"."""
    whole, fraction = divmod(seconds, 1)
    parts, rest = [], int(whole)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    if fraction:
        kept = [p for p in parts if not p.endswith("s")]
        return "".join(kept) + f"{(int(whole) % 60) + fraction:g}s"
    return "".join(parts) or "0s"
