"""Several worker processes on one host (`python worker.py --processes N`).

One Python process runs its workflows and activities on one core: a host whose worker is bound by
its CPU (a fan-out of short instances) serves more with several. The process the user started
(the first) starts the others with the same flags, polling the same task queues, each with its
share of `--max-activities`; it stops them when it stops, and stops with them when one of them
exits. It signals only its own children, which it has not yet waited for (so their pids cannot
belong to another process); they watch for it instead of being signalled, and leave once it is
gone (killed with -9, say), as the embedded workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
"""The folder that holds Orchard's packages: the code the first process runs, which the others import."""

PARENT_CHECK_SECONDS = 1.0
STOP_SECONDS = 30.0
"""How long the first process waits for the others to stop (each waits up to its graceful
shutdown for its activities) before it kills them."""


def shares(total: int, processes: int) -> list[int]:
    """`total` activities split among `processes`, as evenly as can be (the first ones get one
    more when it does not divide): what each runs at once."""
    each, extra = divmod(total, processes)
    return [each + (1 if i < extra else 0) for i in range(processes)]


def sibling_argv(args: argparse.Namespace, max_activities: int, parent: int) -> list[str]:
    """The command of another process of this worker: this one's flags (as parsed, so an abbreviated
    flag is carried over too), its share of the activities, and whose it is."""
    argv = [sys.executable, "-P", "-m", "orchard_worker"]
    for flag, value in (("--address", args.address), ("--namespace", args.namespace), ("--task-queue", args.task_queue), ("--config", args.config)):
        if value is not None:
            argv += [flag, value]
    for spec in args.strategy:
        argv += ["--strategy", spec]
    for spec in args.module:
        argv += ["--module", spec]
    argv += ["--only-custom"] if args.only_custom else []
    argv += ["--idle-exit", str(args.idle_exit)] if args.idle_exit else []
    argv += ["--connect-wait", str(args.connect_wait)] if args.connect_wait else []
    return [*argv, "--max-activities", str(max_activities), "--parent", str(parent)]


class Siblings:
    """The other processes of this worker, started by this one (the first)."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]):
        self.procs = procs

    @classmethod
    def start(cls, args: argparse.Namespace, their_shares: list[int]) -> Siblings:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        return cls([subprocess.Popen(sibling_argv(args, share, os.getpid()), stdin=subprocess.DEVNULL, env=env) for share in their_shares])

    async def until_one_exits(self) -> None:
        """Until one of them has exited (a crash, an idle worker's exit): then they all stop."""
        while True:
            for number, proc in enumerate(self.procs, start=2):
                if proc.poll() is not None:
                    logging.warning("worker process %d of %d (pid %d) exited with %d: stopping the others", number, len(self.procs) + 1,
                                    proc.pid, proc.returncode)
                    return
            await asyncio.sleep(PARENT_CHECK_SECONDS)

    async def stop(self) -> int:
        """Stop them (SIGTERM, and SIGKILL after STOP_SECONDS); 1 when one of them failed (exited
        otherwise than by its stop or SIGTERM), else 0: the worker's exit code."""
        for proc in self.procs:
            if proc.poll() is None:  # not waited for yet: the pid is still this child's
                proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.to_thread(proc.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        return 1 if any(proc.returncode not in (0, -15) for proc in self.procs) else 0


async def until_parent_gone(parent: int) -> None:
    """Until the first process is gone (this process's parent is then another): nothing is
    signalled. Nobody is left to kill this one if its stop never ends (a workflow stuck in
    Temporal's deadlock detector keeps the worker's shutdown waiting), so it leaves anyway after
    STOP_SECONDS."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    logging.warning("the first worker process (pid %d) is gone: stopping", parent)
    threading.Thread(target=_exit_after, args=(STOP_SECONDS,), daemon=True).start()


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    logging.warning("still stopping after %.0f s: leaving", seconds)
    os._exit(1)

