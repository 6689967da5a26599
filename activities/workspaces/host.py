"""The host a loop's (or a pipeline's) workspace lives on, as a task queue: `<queue>@<host id>`.

Every worker also polls its host's queue (worker.py), so a loop sends each iteration (a pipeline
each step) to the host that holds its workspace. A host is a machine and an ORCHARD_HOME: two homes on one machine keep
two sets of workspaces, so they are two hosts.
"""

from __future__ import annotations

import hashlib
import re
import socket

from temporalio import activity

from activities.paths import orchard_home


def host_id() -> str:
    return hashlib.sha256(f"{socket.gethostname()}:{orchard_home()}".encode()).hexdigest()[:10]


def host_queue(task_queue: str) -> str:
    return f"{task_queue}@{host_id()}"


def run_queue(task_queue: str) -> str:
    """The queue the worker serves runs on, from an activity's: its host's queue is workers' own
    (they poll it for activities, never workflows)."""
    queue, at, host = task_queue.rpartition("@")
    return queue if at and re.fullmatch(r"[0-9a-f]{10}", host) else task_queue


class LoopHost:
    """A worker's host queue, as the activity that hands it out: the queue this worker polls."""

    def __init__(self, queue: str):
        self.queue = queue

    @activity.defn(name="claim_loop_host")
    async def claim(self) -> str:
        """Where the loop's workspace will live: the host of the worker that took this task."""
        return self.queue
