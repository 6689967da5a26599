"""Durations as people write them: `90`, `30s`, `5m`, `2h`, `1h30m`, `1d`."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float | int) -> float:
    """Seconds; a bare number is seconds. Raises ValueError naming the accepted forms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(f"(?:{_PART.pattern})+", text):
            seconds = sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration: write seconds (90) or 30s, 5m, 2h, 1h30m, 1d")
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds
