"""Loaded by pytest before the tests' own conftest and test modules (and never by a workflow sandbox).

Bytecode: this machine's Python runs with PYTHONDONTWRITEBYTECODE set, so without this every pytest worker,
every `orchard` process a test starts and every workflow sandbox (which imports a run's workflow
code afresh) compiled Orchard's modules and the rewritten test modules from source again: a
quarter of the suite's CPU. The test session caches bytecode in __pycache__ (ignored by git), as
Python does by default.
"""

import gc
import os
import sys

import pytest

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per core and two more. A test mostly waits on real processes (the Temporal
    server, git, agents): on 2 cores the fast part took 86.6-112.9 s with 2 workers (35 s idle),
    71.9-79.8 s with 3 and 65.9-66.1 s with 4 (docs/benchmarks.md, "The test suite")."""
    return (os.cpu_count() or 1) + 2


def pytest_collection_finish(session: pytest.Session) -> None:
    """The garbage collector: what is loaded by now (modules, the collected tests) lives to the
    session's end, so it is frozen out of the full collections that would walk it again and again;
    and young objects are collected every 10,000 allocations, not 700 (a workflow's first task in
    the sandbox imports its modules afresh, tens of thousands of objects). GC was 4-5 % of a test
    worker's CPU; this halves it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
