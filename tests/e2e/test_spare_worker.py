"""The spare worker (client/embedded/spare_worker.py): beside the warm client, a worker imported
ahead serves the first run of a strategy file, and an edited file is served by a worker of its
own, so that no run ever gets stale code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from activities.procfs import observed
from tests.conftest import gone_within, orchard, pid_in

pytestmark = pytest.mark.slow

STRATEGY = """from workflows import Strategy


class Mine(Strategy):
    NAME = "mine"

    async def execute(self, prompt, base_branch, ctx):
        h = await ctx.run({"prompt": prompt + " VERSION", "base_branch": base_branch}, key=ctx.key("gen"))
        return [await ctx.wait(h)]
"""


def _ready_spare(home: Path) -> int:
    """The pid of the spare worker once it is ready to be claimed (its code recorded), and the warm
    client beside it ready too: a command the warm client does not run starts a pending worker of
    its own, which becomes the run's worker in the spare's place."""
    deadline = time.monotonic() + 60
    ready = [home / "warm" / name for name in ("spare.code", "spare.sock", "code", "client.sock")]
    while not all(path.exists() for path in ready):
        assert time.monotonic() < deadline, (home / "logs" / "spare-worker.log").read_text(errors="replace")
        time.sleep(0.1)
    return pid_in(home / "warm" / "spare.pid")


def _run_mine(env: dict[str, str], repo: Path) -> str:
    ran = orchard("run", "say", "--strategy", "mine.py", "--agent-command", 'echo "$ORCHARD_PROMPT"', "--runner", "local",
                  "--import-policy", "never", "--output", "json", env=env, cwd=repo)
    assert ran.returncode == 0, ran.stderr
    (only,) = json.loads(ran.stdout.strip().splitlines()[-1])["instances"]
    return str(only["final_message"])


def _custom_worker_pids(home: Path) -> dict[str, int]:
    return {p.stem: pid_in(p) for p in (home / "workers").glob("orchard-custom-*.pid")}


def test_a_strategy_file_s_first_run_takes_the_spare_worker_and_an_edited_file_gets_a_new_one(embedded, repo):
    home, env, _, _ = embedded
    env = {**env, "ANTHROPIC_API_KEY": "sk-ant-canary-of-the-shell-that-started-it"}
    for _ in range(2):  # the second command on the server starts the warm client, and the spare beside it
        assert orchard("run", "warm up", "--agent-command", "true", "--runner", "local", "--output", "quiet", env=env, cwd=repo).returncode == 0
    spare = _ready_spare(home)
    assert b"sk-ant-canary" not in Path(f"/proc/{spare}/environ").read_bytes()  # it gets the claiming shell's credentials, none before

    (repo / "mine.py").write_text(STRATEGY.replace("VERSION", "v1"))
    assert _run_mine(env, repo) == "say v1"
    (first,) = _custom_worker_pids(home).items()
    assert first[1] == spare  # the spare became the file's worker
    assert "--listen" in Path(f"/proc/{spare}/cmdline").read_text()
    replacement = _ready_spare(home)  # and the command that took it started the next one
    assert replacement != spare

    (repo / "mine.py").write_text(STRATEGY.replace("VERSION", "v2"))  # the user edits the file: its next run is the new code's
    assert _run_mine(env, repo) == "say v2"
    workers = _custom_worker_pids(home)
    assert len(workers) == 2 and workers[first[0]] == spare
    (second,) = set(workers.values()) - {spare}
    assert second == replacement

    last = _ready_spare(home)
    stopped = orchard("server", "stop", env=env, cwd=repo)
    assert stopped.returncode == 0, stopped.stderr
    assert "spare worker" in stopped.stdout.split(", ")
    assert not (home / "warm" / "spare.pid").exists()
    assert gone_within(lambda: [pid for pid in (spare, replacement, last) if observed(pid)], 10.0)  # the workers and the spare
