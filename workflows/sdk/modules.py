"""The module name a Python file loaded by path is imported under (a strategy file, a custom loop
strategy): stable for the path, so the client, the worker and Temporal's workflow sandbox all
import it by the same name (the worker's import hook maps the name back to the file)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def module_name_for(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"orchard_strategy_{stem}_{digest}"
