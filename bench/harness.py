"""What the run benches share: a scratch repository, a Temporal dev server started for the bench,
and worker processes serving one strategy file (killed with -9 and started again by the benches)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory

from workflows.sdk.errors import carried_result
from workflows.sdk.models import RunInput, RunProgress, RunResult
from workflows.sdk.visibility import run_search_attributes

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Driven:
    result: RunResult
    wall: float
    killed_at: float | None
    """Seconds into the run when the worker was killed."""


@dataclass
class Bench:
    client: Client
    repo: Path
    queue: str
    address: str
    log: Path
    """Where the workers write."""
    start_worker: Callable[[], subprocess.Popen[bytes]]

    async def drive(self, strategy: str, run_id: str, run_input: RunInput, kill_at: int = 0) -> Driven:
        """Run on a worker process to the end; with `kill_at`, kill the worker with -9 once that
        many instances succeeded (the chain's earlier runs, listed and unlisted ones) and start another."""
        worker = self.start_worker()
        started = time.perf_counter()
        handle = await self.client.start_workflow(
            strategy, run_input, id=run_id, task_queue=self.queue, result_type=RunResult, search_attributes=run_search_attributes(strategy, str(self.repo))
        )
        killed_at = None
        try:
            if kill_at:
                while await _succeeded(handle) < kill_at:
                    await asyncio.sleep(0.3)
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                killed_at = time.perf_counter() - started
                worker = self.start_worker()
            try:
                result = await handle.result()
            except WorkflowFailureError as e:  # a run whose results all failed (a loop that never verified) carries them
                carried = carried_result(e.cause)
                if carried is None:
                    raise
                result = carried
        finally:
            worker.terminate()
            worker.wait(30)
        return Driven(result=result, wall=time.perf_counter() - started, killed_at=killed_at)


async def _succeeded(handle: WorkflowHandle[Any, RunResult]) -> int:
    try:
        progress = await handle.query("progress", result_type=RunProgress)
    except Exception:  # between two runs of a chain, or the worker is gone
        return 0
    return progress.earlier.get("success", 0) + progress.unlisted.get("success", 0) + sum(p.status == "success" for p in progress.instances)


@dataclass
class Histories:
    """Every history of a run's chain (continue-as-new)."""

    chain: list[WorkflowHistory]
    events: list[int]
    sizes: list[int]
    """Bytes of each history's JSON (as `orchard history` writes it)."""
    largest: str
    """The largest history's JSON, to replay."""


async def histories_of(client: Client, run_id: str) -> Histories:
    chain, events, sizes, largest = [], [], [], ""
    async for run in client.list_workflows(f'WorkflowId = "{run_id}"'):
        history = await client.get_workflow_handle(run_id, run_id=run.run_id).fetch_history()
        text = history.to_json()
        chain.append(history)
        events.append(len(history.events))
        sizes.append(len(text))
        largest = max(largest, text, key=len)
    return Histories(chain=chain, events=events, sizes=sizes, largest=largest)


def make_files(repo: Path, files: int) -> None:
    """`files` small files in folders of 200, committed: a repository whose checkout costs what a real one does."""
    for i in range(files):
        folder = repo / "src" / f"d{i // 200}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"line {i}\n" * 40)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", f"{files} files"], cwd=repo, check=True, env={**os.environ, **IDENTITY})


IDENTITY = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x.invalid", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x.invalid"}


@contextlib.asynccontextmanager
async def bench_setup(strategy_file: Path | None, name: str, scratch_parent: str | None, worker_args: list[str] | None = None,
                      code: Path = ROOT) -> AsyncIterator[Bench]:
    """A scratch repository and a dev server; workers serve `strategy_file` (None: the built-ins),
    with `worker_args` added to their command, from the checkout `code` (another, to compare)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from client.embedded.dev_settings import temporal_binary
    from orchard_common.connection import ensure_search_attributes

    scratch = Path(tempfile.mkdtemp(prefix=f"orchard-{name}-", dir=scratch_parent))
    repo = scratch / "repo"
    repo.mkdir()
    for cmd in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env={**os.environ, **IDENTITY})
    env = {**os.environ, "ORCHARD_HOME": str(scratch / "home"), **({"PYTHONPATH": str(code)} if code != ROOT else {})}
    server = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter,
                                                   dev_server_log_level="error")
    try:
        async with server:
            await ensure_search_attributes(server.client)
            address = server.client.service_client.config.target_host
            queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
            log = (scratch / "worker.log").open("ab")

            def start_worker() -> subprocess.Popen[bytes]:
                argv = [sys.executable, "worker.py", "--address", address, "--task-queue", queue]
                argv += ["--strategy", str(strategy_file), "--only-custom"] if strategy_file else []
                argv += worker_args or []
                return subprocess.Popen(argv, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)

            yield Bench(client=server.client, repo=repo, queue=queue, address=address, log=scratch / "worker.log", start_worker=start_worker)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
