"""Provider limits as the agent CLIs report them: when the limit resets, read from what they print.

Claude Code (checked with 2.1.197, stream-json): a 429 from the API shows first as a
`{"type": "system", "subtype": "api_retry", "error_status": 429, "retry_delay_ms": N}` event
(N is the API's `retry-after` when it sent one), and the run ends with a result carrying
`"api_error_status": 429` and "API Error: Request rejected (429) · <the API's message>". A
subscription's usage limit reads "Claude AI usage limit reached|<epoch seconds>" (older CLIs),
"Claude usage limit reached. Your limit will reset at 9am (America/Chicago)." or "You've hit your
session limit · resets 5:10pm (Europe/Paris)".

Codex: "You've hit your usage limit. ... try again in 5 days 22 hours 11 minutes." or "... try
again at Jul 5th, 2026 8:19 PM."; the OpenAI API's 429 says "Rate limit reached for ... Please
try again in 20s." (also `1m30s`, `250ms`), and once the CLI's retries are spent "exceeded retry
limit, last status: 429 Too Many Requests".

The same readers take the API's own headers (`retry-after`, Anthropic's
`anthropic-ratelimit-*-reset` in RFC 3339, OpenAI's `x-ratelimit-reset-*` durations), for a plugin
that sees them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass
class LimitHit:
    """The agent stopped at a provider's limit: until `reset_at` when it said, else unknown."""

    message: str
    reset_at: datetime | None = None


USAGE_LIMIT = re.compile(
    r"usage limit reached|hit your (?:\w+ )?(?:usage )?limit|rate limit reached|rate_limit_error|rate.?limit(?:ed)?\b.*\b429|"
    r"\b429\b.*(?:too many requests|rate.?limit|request rejected)|exceed(?:ed)? (?:your |the )?(?:account's |organization's )?rate limit",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"limit reached\|(\d{9,11})")
_CLOCK = re.compile(r"(?:resets?|reset at)\s+(?:(\w{3})\s+(\d{1,2}),?\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b\s*(?:\(([\w/+\-]+)\))?", re.IGNORECASE)
_IN = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?\s*(?:days?|hours?|minutes?|seconds?|ms|[dhms])\s*,?\s*(?:and\s+)?)+)", re.IGNORECASE)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(days?|hours?|minutes?|seconds?|ms|[dhms])", re.IGNORECASE)
_AT = re.compile(r"try again at\s+([A-Z][a-z]{2})\w*\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}),?\s+(\d{1,2}):(\d{2})\s*(AM|PM)?", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def is_limit(text: str) -> bool:
    """The text says the provider refused for a quota or rate limit."""
    return bool(USAGE_LIMIT.search(text))


def duration_seconds(text: str) -> float | None:
    """`20s`, `1m30s`, `250ms`, `6m0s` (OpenAI's reset headers), `5 days 22 hours 11 minutes`; None if none."""
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip(" ,and") != "":
        return None
    return sum(float(n) * _UNITS["ms" if unit.lower() == "ms" else unit[0].lower()] for n, unit in parts)


def reset_from_text(text: str, now: datetime) -> datetime | None:
    """When the limit a CLI's message names resets (in UTC); None when it does not say."""
    if match := _EPOCH.search(text):
        return datetime.fromtimestamp(int(match.group(1)), UTC)
    if match := _IN.search(text):
        seconds = duration_seconds(match.group(1).strip())
        if seconds is not None:
            return now + timedelta(seconds=seconds)
    if match := _AT.search(text):
        month, day, year, hour, minute, half = match.groups()
        if month.lower()[:3] in _MONTHS:
            local = datetime(int(year), _MONTHS[month.lower()[:3]], int(day), _hour(int(hour), half), int(minute))
            return local.astimezone(UTC)  # the CLI prints the host's local time
    if match := _CLOCK.search(text):
        return _next_clock(match, now)
    return None


def _hour(hour: int, half: str | None) -> int:
    if not half:
        return hour
    return hour % 12 + (12 if half.lower() == "pm" else 0)


def _next_clock(match: re.Match[str], now: datetime) -> datetime | None:
    """The next time the clock reads "5:10pm" in the zone named (the host's when none)."""
    month, day, hour, minute, half, zone = match.groups()
    try:
        tz = ZoneInfo(zone) if zone else None
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    local_now = now.astimezone(tz)
    at = local_now.replace(hour=_hour(int(hour), half), minute=int(minute or 0), second=0, microsecond=0)
    if month and month.lower()[:3] in _MONTHS:
        at = at.replace(month=_MONTHS[month.lower()[:3]], day=int(day))
        if at < local_now - timedelta(days=1):
            at = at.replace(year=at.year + 1)
    elif at <= local_now:
        at += timedelta(days=1)
    return at.astimezone(UTC)


def reset_from_headers(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """The latest reset an API's 429 headers give: `retry-after` (seconds or an HTTP date),
    `anthropic-ratelimit-*-reset` (RFC 3339), `x-ratelimit-reset-*` (durations like `6m0s`)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    resets: list[datetime] = []
    if retry_after := lowered.get("retry-after"):
        try:
            resets.append(now + timedelta(seconds=float(retry_after)))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                resets.append(parsedate_to_datetime(retry_after).astimezone(UTC))
    for name, value in lowered.items():
        if name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
            try:
                resets.append(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC))
            except ValueError:
                if value.isdigit():  # the unified limits' reset is epoch seconds
                    resets.append(datetime.fromtimestamp(int(value), UTC))
        elif name.startswith("x-ratelimit-reset-") and (seconds := duration_seconds(value)) is not None:
            resets.append(now + timedelta(seconds=seconds))
    return max(resets) if resets else None
