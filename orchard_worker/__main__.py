"""`python -m orchard_worker`: as `python worker.py`."""

from orchard_worker.main import run

run()
