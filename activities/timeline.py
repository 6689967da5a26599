"""Marks of a run's first steps, for bench/bench_docker_cold.py: when ORCHARD_TIMELINE names a
file, `mark(step)` appends the wall-clock time, this process's id and the step to it (one short
line, written with O_APPEND: the command, the pending worker and the activity share the file);
otherwise it does nothing. The standard library only: the launcher marks before it imports Orchard."""

from __future__ import annotations

import os
import time

TIMELINE_ENV = "ORCHARD_TIMELINE"


def mark(step: str) -> None:
    path = os.environ.get(TIMELINE_ENV)
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{time.time():.6f} {os.getpid()} {step}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # a bench's aid: never a run's problem
