"""A provider's rate limit for the fake model servers: after `after` model requests, every model
request for `seconds` is refused with a 429 in the provider's own shape, saying when it resets.
The window counts and stamps every model request, so a test can assert none came while a run
was paused (`requests_in`)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass
class RateLimitWindow:
    seconds: float
    after: int = 0
    """Model requests answered normally before the window opens."""
    opened_at: float | None = None
    """time.time() when the first request was refused."""
    seen: list[float] = field(default_factory=list)
    """time.time() of every model request, answered or refused."""
    refused: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def closes_at(self) -> float | None:
        return None if self.opened_at is None else self.opened_at + self.seconds

    def check(self) -> float | None:
        """Count a model request: the seconds until the limit resets when it is refused, else None."""
        now = time.time()
        with self._lock:
            self.seen.append(now)
            if self.opened_at is None and len(self.seen) > self.after:
                self.opened_at = now
            if self.opened_at is not None and now < self.opened_at + self.seconds:
                self.refused.append(now)
                return self.opened_at + self.seconds - now
            return None

    def requests_in(self, start: float, end: float) -> int:
        with self._lock:
            return sum(1 for t in self.seen if start <= t < end)


def retry_after(remaining: float) -> str:
    """`retry-after` in whole seconds, rounded up, as the APIs send it."""
    return str(max(1, math.ceil(remaining)))
