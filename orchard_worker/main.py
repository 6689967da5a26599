"""The Orchard worker: hosts the strategy workflows and the activities.

    python worker.py [--address HOST:PORT] [--namespace NS] [--task-queue orchard] [--strategy SPEC ...] [--processes N]
    python -m orchard_worker [...]

Run it on as many hosts as you like against one Temporal server. Built-in strategies are always
served; `--strategy` (or `worker.strategies` in orchard.yaml) adds custom ones.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.worker import Worker

from activities.coordination.budgets import ask_shared_budget
from activities.coordination.events import emit_event
from activities.coordination.rotation import take_turn
from activities.coordination.semaphores import enqueue_lease
from activities.git.overlay import finished as finished_removals
from activities.git.overlay import release_bases
from activities.git.refs import resolve_base
from activities.instance import run_instance
from activities.loops.iteration import finish_loop, run_iteration
from activities.notify import notify
from activities.orphans import sweep_orphans
from activities.runbooks.monitors import check_runbook_monitor, run_runbook_command
from activities.runbooks.sources import read_runbook_queue, run_runbook_hook
from activities.runbooks.steps import run_runbook_step
from activities.timeline import mark
from activities.verification.commit import verify_commit
from activities.verification.diff import commit_diff
from activities.workspaces.host import LoopHost, host_queue
from activities.workspaces.removals import settled as settled_removals
from orchard_common.code import code_digest
from orchard_common.config import DEFAULT_TASK_QUEUE, MAX_ACTIVITIES, ConfigFileError, load_config
from orchard_common.connection import ServerUnreachable, connect, open_runs
from orchard_common.sandbox import sandbox_runner
from orchard_common.strategy_loader import StrategyLoadError, defined_strategies, load_module_spec, load_strategy, source_digest
from orchard_worker.child_watcher import use_pidfd_watcher
from orchard_worker.processes import Siblings, shares, until_parent_gone
from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.coordination.quota import QuotaWorkflow
from workflows.coordination.rotation import RotationWorkflow
from workflows.coordination.semaphores import SemaphoreWorkflow
from workflows.sdk.batches import InstanceBatchWorkflow
from workflows.sdk.strategy import Strategy
from workflows.strategies import BUILTIN_STRATEGIES

IDLE_CHECK_SECONDS = 30.0
STICKY_TIMEOUT = timedelta(seconds=2)
"""How long a run's next workflow task waits for the worker that has the run cached before any
worker takes it (10 s by default): after a worker is killed, its runs, locks and semaphores move
on in 2 s, not 10."""
ORCHARD_ACTIVITIES = [run_instance, verify_commit, commit_diff, resolve_base, take_turn, enqueue_lease, emit_event, run_iteration, run_runbook_step,
                      read_runbook_queue, run_runbook_hook, finish_loop, check_runbook_monitor, run_runbook_command, notify, ask_shared_budget]

ENTITY_WORKFLOWS = [RotationWorkflow, SemaphoreWorkflow, QuotaWorkflow, SharedBudgetWorkflow]
"""The workflows runs share: rotations, locks and semaphores, quotas, shared budgets."""

class OrchardWorker:
    """The worker on the task queue (workflows and activities) and the one on this host's queue
    (`<queue>@<host>`: activities only), where a loop's iterations reach the host holding its workspace."""

    def __init__(self, workers: list[Worker]):
        self.workers = workers

    async def __aenter__(self) -> OrchardWorker:
        for w in self.workers:
            await w.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.gather(*(w.__aexit__(*exc) for w in self.workers))
        await settled_removals()  # the workspaces of instances whose results are recorded: before their bases
        await release_bases()  # those it kept for their grace: nothing of it would remove them later


def build_worker(
    client: Client, task_queue: str, strategies: list[type[Strategy]], activities: list[Callable[..., Any]] | None = None, host: str | None = None,
    heartbeat_every: float = 2.0, max_activities: int = MAX_ACTIVITIES,
) -> OrchardWorker:
    """A worker for these strategies, the rotations and instance batches, with Orchard's activities
    (or others, in tests), and one on this host's queue (`host` names another, in tests).
    Heartbeats carry cancellation back to activities: they are sent at most `heartbeat_every`
    seconds apart, so `orchard cancel` reaches an agent that quickly. `max_activities`: what this
    worker runs at once (agents, checks, git work): a host's share of the runs' instances."""
    workflows = {s.name(): s.workflow_class() for s in strategies}
    host = host or host_queue(task_queue)
    common: dict[str, Any] = {
        "activities": [*ORCHARD_ACTIVITIES, LoopHost(host).claim] if activities is None else activities,
        "max_concurrent_activities": max_activities,
        "graceful_shutdown_timeout": timedelta(seconds=10),
        "max_heartbeat_throttle_interval": timedelta(seconds=heartbeat_every),
        "default_heartbeat_throttle_interval": timedelta(seconds=heartbeat_every),
    }
    common["build_id"] = build_id(strategies)
    main = Worker(
        client, task_queue=task_queue, workflows=[*workflows.values(), *ENTITY_WORKFLOWS, InstanceBatchWorkflow],
        workflow_runner=sandbox_runner(), sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT, **common,
    )
    return OrchardWorker([main, Worker(client, task_queue=host, **common)])


def build_id(strategies: list[type[Strategy]]) -> str:
    """The code this worker runs, as Temporal records it with each workflow task: Orchard's own and
    the strategy files it serves. (The SDK's default hashes the bytecode of every loaded module,
    compiling some again: 0.2-0.3 s of a worker's start here.)"""
    digest = hashlib.sha256(code_digest().encode())
    for strategy in strategies:
        if BUILTIN_STRATEGIES.get(strategy.name()) is not strategy:
            digest.update(source_digest(strategy).encode())
    return f"orchard-{digest.hexdigest()[:16]}"


def strategies_for(specs: list[str], builtins: bool = True) -> list[type[Strategy]]:
    """The built-ins (which any strategy may run as children) and the strategies the specs name,
    with every other strategy their modules define (children a strategy runs by class)."""
    chosen = list(BUILTIN_STRATEGIES.values()) if builtins else []
    for spec in specs:
        cls = load_strategy(spec)
        for found in [cls, *defined_strategies(sys.modules[cls.__module__])]:
            if found not in chosen:
                chosen.append(found)
    return chosen


async def _exit_when_idle(client: Client, task_queue: str, idle_seconds: float, stop: asyncio.Event) -> None:
    """Embedded per-strategy workers leave once no open run needs them."""
    idle_for = 0.0
    while not stop.is_set():
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        idle_for = idle_for + IDLE_CHECK_SECONDS if await open_runs(client, task_queue) == 0 else 0.0
        if idle_for >= idle_seconds:
            stop.set()


async def _connect_within(address: str | None, namespace: str | None, seconds: float) -> Client:
    """Connected, trying again for `seconds`: an embedded worker starts beside its server, not after it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await connect(address, namespace)
        except ServerUnreachable:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.05)


async def serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    address = args.address or config.temporal.address
    client = await _connect_within(address, args.namespace or config.temporal.namespace, args.connect_wait)
    mark("worker: connected")
    task_queue = args.task_queue or config.temporal.task_queue
    strategies = strategies_for(args.strategy + config.worker.strategies, builtins=not args.only_custom)
    for module in args.module:  # code runs use beside their strategy (a custom loop strategy): importable by name in the sandbox
        load_module_spec(module, "--module")
    mine, *theirs = shares(args.max_activities, args.processes)
    worker = build_worker(client, task_queue, strategies, max_activities=mine)
    if args.parent is None:  # the first process (another of its processes would sweep what its siblings run)
        swept = await sweep_orphans(client)
        if swept:
            logging.info("stopped %d agent or verification process(es) that dead workers left running", swept)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("serving %s on task queue %s", ", ".join(s.name() for s in strategies), task_queue)
    siblings = Siblings.start(args, theirs) if theirs else None
    try:
        async with worker:
            mark("worker: polling")
            watchers: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait())]
            if args.idle_exit:
                watchers.append(asyncio.create_task(_exit_when_idle(client, task_queue, args.idle_exit, stop)))
            if siblings is not None:
                watchers.append(asyncio.create_task(siblings.until_one_exits()))
            if args.parent is not None:
                watchers.append(asyncio.create_task(until_parent_gone(args.parent)))
            await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            for w in watchers:
                w.cancel()
    finally:
        code = await siblings.stop() if siblings is not None else 0
    await finished_removals()  # a last workspace's base, still being deleted
    return code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python worker.py", description="Run an Orchard worker.")
    p.add_argument("--address", help="Temporal frontend HOST:PORT (default: TEMPORAL_ADDRESS / profile / localhost:7233)")
    p.add_argument("--namespace", help="Temporal namespace (default: default)")
    p.add_argument("--task-queue", help=f"task queue to poll (default: {DEFAULT_TASK_QUEUE})")
    p.add_argument("--strategy", action="append", default=[], metavar="SPEC",
                   help="also serve a custom strategy: path.py[:Class] or module[:Class] (repeatable)")
    p.add_argument("--module", action="append", default=[], metavar="SPEC",
                   help="also import path.py or pkg.mod, e.g. a custom loop strategy (-S module=...) (repeatable)")
    p.add_argument("--max-activities", type=int, default=MAX_ACTIVITIES, metavar="N",
                   help=f"agents, checks and git work this worker runs at once (default {MAX_ACTIVITIES}): with workers on several hosts, each host's share")
    p.add_argument("--processes", type=int, metavar="N",
                   help="worker processes on this host (default: worker.processes in orchard.yaml, else 1), polling the same task queues, "
                        "each with its share of --max-activities: "
                        "for a host whose one process is bound by its CPU")
    p.add_argument("--only-custom", action="store_true", help="serve only the --strategy strategies")
    p.add_argument("--config", help="orchard.yaml to read worker.strategies and temporal settings from")
    p.add_argument("--idle-exit", type=float, default=0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--connect-wait", type=float, default=0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--parent", type=int, metavar="PID", help=argparse.SUPPRESS)  # another process of the worker whose first process is PID
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.max_activities < 1:
        p.error(f"--max-activities {args.max_activities}: give 1 or more")
    if args.processes is not None and args.processes < 1:
        p.error(f"--processes {args.processes}: give 1 or more")
    if (args.processes or 1) > args.max_activities:
        p.error(f"--processes {args.processes}: more than --max-activities {args.max_activities} (each process runs one activity at least)")
    return args


def processes_of(args: argparse.Namespace) -> int:
    """How many processes this worker runs: --processes, else worker.processes in its orchard.yaml,
    else 1; a process another one started is one of those (its first process counts them)."""
    if args.parent is not None:
        return 1
    if args.processes is not None:
        return int(args.processes)
    processes = load_config(args.config).worker.processes or 1
    if processes > args.max_activities:
        raise ConfigFileError(f"worker.processes {processes}: more than --max-activities {args.max_activities} (each process runs one activity at least)")
    return processes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        args.processes = processes_of(args)
    except ConfigFileError as e:
        print(f"orchard worker: {e}", file=sys.stderr)
        return 2
    several = args.processes > 1 or args.parent is not None  # which process says what
    logging.basicConfig(level=logging.INFO, format="%(asctime)s " + ("[%(process)d] " if several else "") + "%(levelname)s %(name)s: %(message)s")
    use_pidfd_watcher()  # no thread per agent or git process it waits for
    try:
        return asyncio.run(serve(args))
    except (ServerUnreachable, StrategyLoadError, ConfigFileError) as e:
        print(f"orchard worker: {e}", file=sys.stderr)
        return 2


def run() -> NoReturn:
    """`python worker.py`: main(), then out without interpreter finalization (the Temporal client's
    native threads can abort it, PyGILState_Release, a clean stop then exiting 134)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
