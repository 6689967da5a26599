"""The Orchard worker: hosts the strategy workflows and the activities.

    python worker.py [--address HOST:PORT] [--namespace NS] [--task-queue orchard] [--strategy SPEC ...]

Run it on as many hosts as you like against one Temporal server. Built-in strategies are always
served; `--strategy` (or `worker.strategies` in orchard.yaml) adds custom ones. The worker's code
is in orchard_worker/ (a package, so that import-linter checks its imports); this file is its
command, and keeps `import worker` working for code that builds workers in-process.
"""

from __future__ import annotations

from orchard_common.startup import importing

with importing():  # the worker's imports without the cyclic collector, as `python -m orchard_worker`'s
    from orchard_worker.main import build_worker, main, run, strategies_for

__all__ = ["build_worker", "main", "strategies_for"]

if __name__ == "__main__":
    run()
