"""Record one history per built-in strategy (and the examples) into tests/histories/.

    python -m tests.record_histories

Run it after a deliberate change of a strategy's decisions; the replay tests then guard the new
behaviour. Paths in the histories are temporary ones, so nothing machine-specific is recorded.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

HISTORIES = Path(__file__).resolve().parent / "histories"
RUNS = {
    "simple": {},
    "best-of-n": {"n": 2, "verify": "test -d demo"},
    "my-simple": {"greeting": "Hello"},
    "fan-out": {"n": 2},
    "propose-refine": {},
}


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="orchard-record-"))
    os.environ["ORCHARD_HOME"] = str(scratch / "home")
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from client.connection import ensure_search_attributes
    from client.devserver import temporal_binary
    from tests.conftest import ROOT, make_repo, run_strategy
    from worker import build_worker, strategies_for

    agent = scratch / "demo_agent.py"
    shutil.copy(ROOT / "examples" / "demo_agent.py", agent)
    examples = [str(ROOT / "examples" / f) for f in ("custom_simple.py", "fanout_two.py", "propose_refine.py")]
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter)
    async with env:
        await ensure_search_attributes(env.client)
        async with build_worker(env.client, "record", strategies_for(examples)):
            HISTORIES.mkdir(exist_ok=True)
            for name, params in RUNS.items():
                repo = make_repo(scratch / f"repo-{name}")
                run_id = f"run_recorded_{name}"
                await run_strategy(env.client, "record", name, repo, params=params, agent=f"python3 {agent}", run_id=run_id)
                history = await env.client.get_workflow_handle(run_id).fetch_history()
                (HISTORIES / f"{name}.json").write_text(history.to_json())
                print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
