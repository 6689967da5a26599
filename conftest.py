"""Loaded by pytest before the tests' own conftest and test modules (and never by a workflow sandbox).

This machine's Python runs with PYTHONDONTWRITEBYTECODE set, so without this every pytest worker,
every `orchard` process a test starts and every workflow sandbox (which imports a run's workflow
code afresh) compiled Orchard's modules and the rewritten test modules from source again: a
quarter of the suite's CPU. The test session caches bytecode in __pycache__ (ignored by git), as
Python does by default.
"""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
