"""Whether a command talks to a Temporal server the user named or to the embedded one. The
standard library only: the `orchard` launcher asks before it imports anything."""

from __future__ import annotations

import os


def external_target(address: str | None) -> bool:
    """True when the user named a server (flag, TEMPORAL_ADDRESS or a Temporal profile)."""
    if address:
        return True
    if os.environ.get("TEMPORAL_ADDRESS") or os.environ.get("TEMPORAL_PROFILE"):
        return True
    config_file = os.environ.get("TEMPORAL_CONFIG_FILE")
    return bool(config_file and os.path.exists(config_file))
