"""A run's agents get the credentials of the shell that started it, whatever the background
worker was started with: replaced when it serves no open run, else a worker of the run's own."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import DEMO_AGENT, git, orchard, orchard_argv

pytestmark = pytest.mark.slow


def digest_on(repo: Path, branch: str) -> str:
    """What the demo agent wrote of $ANTHROPIC_API_KEY on its branch: the value's sha256."""
    found = next(p for p in git(repo, "ls-tree", "-r", "--name-only", branch).split() if p.endswith(".secret-digest"))
    return git(repo, "show", f"{branch}:{found}")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_each_run_s_agents_get_the_credentials_of_the_shell_that_started_it(embedded, repo, tmp_path):
    """With key A's run open on the background worker, a run from a shell with key B was answered by
    that worker with a warning only (its agents: "Not logged in"); and once it was idle, the next
    run stalled while the worker was replaced, saying nothing. Now B's run gets a worker of its own,
    A's run keeps its worker and key, and a replacement says why in one line."""
    _, env, _, _ = embedded
    key_a, key_b = "sk-ant-a-" + uuid.uuid4().hex, "sk-ant-b-" + uuid.uuid4().hex
    gate = tmp_path / "go"
    agent = f"DEMO_AGENT_SECRET_ENV=ANTHROPIC_API_KEY {DEMO_AGENT}"
    waiting = f"while [ ! -f {gate} ]; do sleep 0.1; done; {agent}"
    first = orchard("run", "with key a", "--agent-command", waiting, "--runner", "local", "--detach", env={**env, "ANTHROPIC_API_KEY": key_a},
                    cwd=repo)  # the agent waits for a file of the test's outside its workspace: the local runner, which allows it
    assert first.returncode == 0, first.stderr
    run_a = first.stdout.strip().splitlines()[-1]

    second = orchard("run", "with key b", "--agent-command", agent, "--output", "json", env={**env, "ANTHROPIC_API_KEY": key_b}, cwd=repo)
    assert second.returncode == 0, second.stderr
    said = second.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("orchard: the background worker (orchard) serves 1 open run and its credentials differ from this "
                                                 "shell's (ANTHROPIC_API_KEY): this run gets a worker of its own with this shell's (orchard~"), said
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert digest_on(repo, result["instances"][0]["branch_name"]) == sha(key_b)
    own_queue = said[0].split("(orchard~", 1)[1].split(";")[0]
    assert sha(key_b)[:6] not in own_queue  # a random name: nothing of the key reaches the history

    again = orchard("run", "with key b again", "--agent-command", agent, "--output", "json", env={**env, "ANTHROPIC_API_KEY": key_b}, cwd=repo)
    assert again.returncode == 0 and f"(orchard~{own_queue};" in again.stderr  # the same worker of its own, while A's run is open

    gate.touch()
    watched = orchard("watch", run_a, "--output", "json", env={**env, "ANTHROPIC_API_KEY": key_a}, cwd=repo)
    assert watched.returncode == 0, watched.stderr
    assert digest_on(repo, json.loads(watched.stdout.strip().splitlines()[-1])["instances"][0]["branch_name"]) == sha(key_a)

    started = time.monotonic()
    proc = subprocess.Popen(orchard_argv("run", "b once a is done", "--agent-command", agent, "--output", "json"), env={**env, "ANTHROPIC_API_KEY": key_b},
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first_line = proc.stderr.readline()  # said before the wait, not after it
    said_at = time.monotonic() - started
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 0, rest
    assert first_line.strip() == ("orchard: restarting the background worker (orchard), which has no open run: its credentials differ from this shell's "
                                  "(ANTHROPIC_API_KEY)") and not rest.strip(), (first_line, rest)
    assert said_at < 5, said_at
    assert digest_on(repo, json.loads(out.strip().splitlines()[-1])["instances"][0]["branch_name"]) == sha(key_b)
    for text in (second.stdout, again.stdout, out, watched.stdout):
        assert key_a not in text and key_b not in text
