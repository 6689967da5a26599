"""Orchard's own code, as one digest: a background process (the warm client, an embedded worker)
started from other code is stale. The standard library only: the `orchard` command's launcher
compares digests before it imports anything else."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout (or installed tree) Orchard's packages and worker.py live in."""
PACKAGES = ("workflows", "activities", "orchard_common", "orchard_worker", "client")


def code_digest() -> str:
    """A digest of Orchard's own code: its packages and worker.py (the worker's command)."""
    files = sorted(p for d in PACKAGES for p in (ROOT / d).rglob("*.py"))
    digest = hashlib.sha256()
    for path in [*files, ROOT / "worker.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
