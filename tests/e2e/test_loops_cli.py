"""Loops end to end, with real git, real agent processes and the `orchard` command: scripted agents
that converge, get stuck, signal completion and oscillate; a person steering a detached loop; a
custom loop strategy from a file; a worker killed mid-iteration in a long loop that continues as
new; and the real Claude Code CLI in a ralph loop against the fake model server."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, orchard, orchard_branches, pid_in, require_docker, run_strategy
from tests.e2e.test_agent_clis import require_cli
from tests.fakes.anthropic_server import FakeAnthropic, write_and_commit_script

pytestmark = pytest.mark.slow

COUNTER = "echo x >> counter.txt && git add counter.txt && git commit -qm \"line $(wc -l < counter.txt)\""
"""An agent that adds a line per iteration: a check for three lines passes at iteration 3."""
THREE_LINES = {"L0": "test -f counter.txt", "L1": "test $(wc -l < counter.txt) -ge 3"}


def rows(result) -> list[tuple[int, str]]:
    return [(r.iteration, r.action) for r in result.instances[0].loop.trail]


@pytest.mark.parametrize("agent, params, trail, ending", [
    pytest.param(COUNTER, {"mode": "hybrid", "verify": THREE_LINES}, [(1, "continue"), (2, "continue"), (3, "complete")],
                 "verification passed at L1 on iteration 3", id="converges"),
    pytest.param("echo same > state.txt && git add -A && git commit -qm same --allow-empty && echo 'still failing'",
                 {"mode": "hybrid", "completion": ["verification_pass"], "verify": {"L0": "false"}}, [(1, "continue"), (2, "continue"), (3, "fail")],
                 "loop", id="stuck"),
    pytest.param(f"{COUNTER} && if [ $(wc -l < counter.txt) -ge 2 ]; then echo 'All done. TASK_COMPLETE'; else echo working; fi",
                 {"mode": "ralph"}, [(1, "continue"), (2, "complete")], "TASK_COMPLETE", id="signals"),
    pytest.param("if [ -f a.txt ]; then git rm -q a.txt && echo b > b.txt; else git rm -q --ignore-unmatch b.txt; echo a > a.txt; fi; "
                 "git add -A && git commit -qm flip",
                 {"mode": "hybrid", "base_iterations": 6, "completion": ["verification_pass"], "verify": {"L0": "test -f a.txt", "L1": "false"}},
                 [(1, "continue"), (2, "continue"), (3, "continue"), (4, "fail")], "went back and forth", id="oscillates"),
])
async def test_scripted_agents_converge_get_stuck_signal_and_oscillate(client, task_queue, repo, agent, params, trail, ending):
    result = await run_strategy(client, task_queue, "loop", repo, params=params, agent=agent)
    assert rows(result) == trail, result.instances[0].loop.trail
    loop = result.instances[0]
    assert ending in loop.selection.reason
    commits = git(repo, "rev-list", "--reverse", f"main..{loop.branch_name}").split()
    assert commits == list(dict.fromkeys(r.commit for r in loop.loop.trail))  # every iteration's commit, in order, on the branch
    assert loop.commit == commits[-1]  # the branch ends at the last iteration's commit
    assert not any(Path(os.environ["ORCHARD_HOME"], "workspaces").glob("*/*"))  # the loop's workspace went with it


async def test_a_loop_runs_its_agent_in_a_container_iteration_after_iteration(client, task_queue, repo):
    require_docker()
    result = await run_strategy(client, task_queue, "loop", repo, params={"mode": "fixed", "max_iterations": 4, "verify": THREE_LINES}, agent=COUNTER,
                                runner="docker")
    loop = result.instances[0]
    assert rows(result) == [(1, "continue"), (2, "continue"), (3, "complete")], loop.error
    assert git(repo, "log", "--format=%s", f"main..{loop.branch_name}").split("\n") == ["line 3", "line 2", "line 1"]  # committed in the container
    assert git(repo, "show", f"{loop.branch_name}:counter.txt").split() == ["x", "x", "x"]


def test_a_detached_loop_is_steered_watched_and_shown_a_custom_one_runs_from_a_file_and_a_long_one_survives_a_killed_worker(embedded, repo, tmp_path):
    home, env, _, _ = embedded
    prompts = tmp_path / "prompts.log"
    (tmp_path / "levels.yaml").write_text(json.dumps(THREE_LINES))
    gate = tmp_path / "go"  # iteration 1 waits for it: the steering below happens while the loop runs
    agent = f"cat \"$ORCHARD_PROMPT_FILE\" >> {prompts}; echo ---- >> {prompts}; for i in $(seq 300); do [ -f {gate} ] && break; sleep 0.1; done; {COUNTER}"
    # the agent writes a file of the test's outside its workspace: the local runner, which allows it
    started = orchard("run", "count to three", "--strategy", "loop", "-S", "mode=hybrid", "-S", f"verify=@{tmp_path / 'levels.yaml'}",
                      "--agent-command", agent, "--runner", "local", "--detach", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    nudged = orchard("loop", "nudge", run_id, "keep the lines short", env=env, cwd=repo)
    assert nudged.returncode == 0 and nudged.stdout.startswith(f"run {run_id}: added to iteration "), nudged.stderr
    refused = orchard("loop", "extend", run_id, "0", env=env, cwd=repo)
    assert refused.returncode == 2 and refused.stderr.strip() == "orchard: loop extend refused: extend by 1 or more iterations (got 0)"
    gate.touch()

    watched = orchard("watch", run_id, "--output", "json", env=env, cwd=repo, timeout=120)
    assert watched.returncode == 0, watched.stderr
    final = json.loads(watched.stdout.strip().splitlines()[-1])
    (loop,) = final["instances"]
    assert [r["action"] for r in loop["metadata"]["iterations"]] == ["continue", "continue", "complete"]
    assert "keep the lines short" in prompts.read_text() and "These checks failed" not in prompts.read_text().split("----")[0]
    assert git(repo, "log", "--format=%s", f"main..{loop['branch_name']}").split("\n") == ["line 3", "line 2", "line 1"]
    shown = orchard("show", run_id, env=env, cwd=repo)
    table = [line.replace("│", " ").split() for line in shown.stdout.splitlines()]
    iterations = [[str(n), r["commit"][:12]] for n, r in enumerate(loop["metadata"]["iterations"], 1)]
    assert [cells[:2] for cells in table if cells[:1] in (["1"], ["2"], ["3"])] == iterations
    assert "verification passed at L1 on iteration 3" in shown.stdout
    done = orchard("loop", "stop", run_id, env=env, cwd=repo)
    assert done.returncode == 2 and "it waits for no steering" in done.stderr

    custom = orchard("run", "count", "--strategy", "loop", "-S", "mode=custom", "-S", "module=../custom/counting.py:CountingLoop",
                     "-S", 'config={"stop_after": 2}', "--agent-command", COUNTER, "--output", "json", env=env, cwd=_custom_module(repo, tmp_path))
    assert custom.returncode == 0, custom.stderr
    result = json.loads(custom.stdout.strip().splitlines()[-1])
    assert result["instances"][0]["metadata"]["selection_reason"] == "counted to 2"
    missing = orchard("run", "count", "--strategy", "loop", "-S", "mode=custom", "-S", "module=nowhere.py", "--agent-command", COUNTER, env=env, cwd=repo)
    assert missing.returncode == 2 and missing.stderr.strip().startswith("orchard: -S module: ") and "nowhere.py does not exist" in missing.stderr
    survives_a_killed_worker(home, env, repo, tmp_path)  # on the same server: one server started for all of it


def survives_a_killed_worker(home: Path, env: dict[str, str], repo: Path, tmp_path: Path) -> None:
    """A long loop whose worker is killed with -9 mid-iteration repeats no finished iteration."""
    log = tmp_path / "iterations.log"
    agent = f"echo $ORCHARD_KEY >> {log}; sleep 0.3; git commit -q --allow-empty -m \"$ORCHARD_KEY\""
    # the agent writes a file of the test's outside its workspace: the local runner, which allows it
    started = orchard("run", "tick", "--strategy", "loop", "-S", "mode=fixed", "-S", "max_iterations=16", "-S", "iterations_per_run=4",
                      "--agent-command", agent, "--runner", "local", "--detach", env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while len(log.read_text().split() if log.exists() else []) < 8:
        assert time.monotonic() < deadline, "the loop did not get to iteration 8"
        time.sleep(0.1)
    os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)  # mid-iteration: the agent sleeps
    watched = orchard("watch", run_id, "--output", "json", env=env, cwd=repo, timeout=180)  # restarts the worker
    assert watched.returncode == 1, watched.stderr  # fixed without verification ends on its maximum: timeout
    final = json.loads(watched.stdout.strip().splitlines()[-1])
    (loop,) = final["instances"]
    assert loop["status"] == "timeout" and final["runs"] == 4
    assert [r["iteration"] for r in loop["metadata"]["iterations"]] == list(range(1, 17))
    subjects = git(repo, "log", "--reverse", "--format=%s", f"main..{loop['branch_name']}").split("\n")
    assert subjects == [f"loop/{n}" for n in range(1, 17)]  # one commit per iteration: the interrupted one's work was discarded
    ran = log.read_text().split()
    assert sorted(set(ran), key=lambda k: int(k.split("/")[1])) == subjects and len(ran) - len(set(ran)) <= 1  # only the interrupted iteration ran twice
    assert [b for b in orchard_branches(repo) if run_id in b] == [loop["branch_name"]]  # the loop made one branch


def _custom_module(repo: Path, tmp_path: Path) -> Path:
    """The fixture custom strategy, as a user's file outside the repository (given by a relative path)."""
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "counting.py").write_text((ROOT / "tests" / "workflows" / "loops" / "custom_modes" / "counting.py").read_text())
    return repo


def ralph_conversation(text: str):
    """Iterations 1 and 2 write a note and commit; the third also says the task is complete."""
    n = 1 if "This is iteration" not in text else int(text.split("This is iteration ")[1].split()[0])
    done = " TASK_COMPLETE" if n >= 3 else ""
    return write_and_commit_script(f"notes/{n}.md", f"note {n}\n", f"Add note {n}", final_text=f"Wrote note {n}.{done}")


async def test_claude_code_in_a_ralph_loop_edits_commits_and_signals_completion(client, task_queue, repo, monkeypatch, tmp_path):
    require_cli("claude")
    with FakeAnthropic(conversations=ralph_conversation) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))
        result = await run_strategy(client, task_queue, "loop", repo, prompt="keep notes", params={"mode": "ralph", "state_dir": ".ralph"},
                                    agent="", plugin="claude-code", runner="local")
    loop = result.instances[0]
    assert rows(result) == [(1, "continue"), (2, "continue"), (3, "complete")], loop.loop.trail
    assert "TASK_COMPLETE" in loop.selection.reason and loop.final_message == "Wrote note 3. TASK_COMPLETE"
    assert git(repo, "log", "--format=%s", f"main..{loop.branch_name}").split("\n") == ["Add note 3", "Add note 2", "Add note 1"]
    assert git(repo, "show", f"{loop.branch_name}:notes/2.md") == "note 2"
    assert ".ralph" not in git(repo, "ls-tree", "-r", "--name-only", loop.branch_name)  # the loop's state files stay out of its commits
    assert loop.input_tokens > 0 and loop.cost_usd > 0 and result.instances_run == 3
