"""`python -m orchard_worker`: as `python worker.py`."""

from orchard_common.startup import importing

with importing():
    from orchard_worker.main import run

run()
