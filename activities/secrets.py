"""Credentials stay in the worker: every text leaving an activity passes through redact()."""

from __future__ import annotations

import os

from workflows.sdk.models import SECRET_NAME

MIN_SECRET_LENGTH = 6


def secret_values() -> dict[str, str]:
    """Values of credential-like variables in the worker's environment, by name."""
    return {k: v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}


def redact(text: str | None, values: dict[str, str] | None = None) -> str | None:
    """`text` with every credential's value replaced by its name; `values` (secret_values(), read
    once) spares a caller redacting many lines a scan of the environment for each."""
    if not text:
        return text
    for name, value in sorted((secret_values() if values is None else values).items(), key=lambda kv: -len(kv[1])):
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text
