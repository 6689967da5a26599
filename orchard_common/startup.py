"""A process's start: importing Orchard without the cyclic garbage collector.

Importing the worker makes hundreds of thousands of objects (modules, classes, functions, pydantic's
validators); the collector, run every few hundred allocations, walks them again and again for no
garbage: 8-10 % of the worker's import (0.447-0.454 s of CPU against 0.479-0.522 s). What the
imports made lives as long as the process, so it is frozen out of later collections too (gc.freeze:
a run's collections walk only what came after). The standard library only: the `orchard` launcher
imports this before anything else.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """No cyclic collection while the block imports; what it imported frozen out of later ones."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
