"""`orchard run`: the input checked, the run started on a worker with what the user gave, followed
to its end (or detached), and its exit code the run's. Against the scripted worker; the embedded
server, its background workers and real agents are the end-to-end tests'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.client.commands.conftest import Orchard, ScriptedRuns
from tests.scripted import Script
from workflows.sdk.models import RunResult
from workflows.sdk.visibility import SA_REPO, SA_STRATEGY


def scripted(queue: str, *argv: str) -> list[str]:
    """`orchard run` arguments for a run on the scripted worker."""
    return ["run", *argv, "--task-queue", queue, "--agent-command", "scripted"]


async def test_a_run_is_started_with_what_was_given_and_followed_to_its_end(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, client, repo: Path):
    scripted_runs.scripts.append(Script(failures={"candidate/2": "the agent gave up"}))
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", "best-of-n", "-S", "n=2", "--output", "streaming"))
    (run_id,) = scripted_runs.started
    assert said.code == 3, said.err  # completed, one instance failed
    assert said.lines[0] == f"best-of-n run {run_id}"
    assert any(re.fullmatch(rf"winner: orchard/best-of-n/{run_id}/k[0-9a-f]{{8}} \(highest score \d+/10\)", line) for line in said.lines), said.out
    assert said.lines[-1].startswith(f"run {run_id}: partial in ")
    assert any("candidate/2" in line and "the agent gave up" in line for line in said.lines)
    # What was started: the strategy, the parameters and the prompt given, on this repository's base.
    script = scripted_runs.script()
    assert sorted(k for k in script.started_keys() if k.startswith("candidate/")) == ["candidate/1", "candidate/2"]
    assert script.call("candidate/1").task.prompt.startswith("add a greeting\n")  # and the candidate's approach hint
    desc = await client.get_workflow_handle(run_id).describe()
    attrs = desc.typed_search_attributes
    assert (desc.workflow_type, attrs.get(SA_STRATEGY), attrs.get(SA_REPO)) == ("best-of-n", "best-of-n", str(repo))
    memo = await desc.memo()
    assert (memo["prompt"], memo["params"], memo["base_branch"], memo["task_queue"]) == ("add a greeting", {"n": 2}, "main", scripted_queue)


async def test_the_agents_get_the_flags_over_orchard_yaml_over_the_defaults(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, repo: Path):
    (repo / "orchard.yaml").write_text("model: from-yaml\nmax_turns: 7\nagent_env: {FROM_YAML: 'yes'}\nstrategies:\n  best-of-n: {n: 3}\n")
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", "best-of-n", "--model", "from-flag", "--timeout", "30",
                                   "--env", "GREETING=hello", "--cli-arg", "--fast", "--cli-args", "--level 'very high'", "--output", "quiet"))
    assert said.code == 0, said.err
    script = scripted_runs.script()
    assert sorted(k for k in script.started_keys() if k.startswith("candidate/")) == ["candidate/1", "candidate/2", "candidate/3"]  # n from orchard.yaml
    task = script.call("candidate/1").task
    assert (task.model, task.max_turns, task.timeout, task.cli_args) == ("from-flag", 7, 30.0, ["--fast", "--level", "very high"])
    assert task.agent_env == {"FROM_YAML": "yes", "GREETING": "hello"}
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--strategy", "best-of-n", "-S", "n=1", "--output", "quiet"))
    assert said.code == 0 and [k for k in scripted_runs.script(1).started_keys() if k.startswith("candidate/")] == ["candidate/1"]  # -S over orchard.yaml


async def test_json_output_ends_with_the_result_and_a_failed_run_exits_1(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue):
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--output", "json"))
    result = json.loads(said.lines[-1])
    assert said.code == 0 and (result["type"], result["status"], result["exit_code"], result["strategy"]) == ("result", "success", 0, "simple")
    assert result["run_id"] == scripted_runs.started[0] and result["instances"][0]["branch_name"].startswith(f"orchard/simple/{result['run_id']}/k")
    scripted_runs.scripts.append(Script(failures={".*": "the agent gave up"}))
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--output", "json"))
    result = json.loads(said.lines[-1])
    assert said.code == 1 and (result["status"], result["exit_code"]) == ("failed", 1)
    assert result["instances"][0]["error"] == "the agent gave up"


async def test_detach_prints_the_run_id_and_returns_while_the_run_goes_on(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, client):
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--detach"))
    (run_id,) = scripted_runs.started
    assert said.code == 0 and said.out == f"{run_id}\n"  # stdout is the id alone, for scripts
    assert said.err == f"started simple run; watch: orchard watch {run_id}; cancel: orchard cancel {run_id}\n"
    result = await client.get_workflow_handle(run_id, result_type=RunResult).result()
    assert result.status == "success"


async def test_runs_n_starts_n_runs_and_exits_with_the_worst_of_their_codes(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue):
    scripted_runs.scripts += [Script(), Script(failures={".*": "the agent gave up"})]
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--runs", "2", "--output", "quiet"))
    first, second = scripted_runs.started
    assert said.code == 1
    assert [line.split()[:2] for line in said.lines] == [[first, "success"], [second, "failed"]]


async def test_a_queue_no_worker_polls_is_one_line_and_nothing_is_started(orchard: Orchard, scripted_runs: ScriptedRuns, named_server: str):
    said = await orchard(*scripted("nobody-polls-this", "add a greeting"))
    assert said.code == 2 and said.out == "" and scripted_runs.started == []
    assert said.err == (f"orchard: no worker polls task queue 'nobody-polls-this' on {named_server}; "
                        f"start one with `python worker.py --address {named_server}` (or pass --with-worker)\n")


async def test_a_server_that_does_not_answer_is_one_line_exit_2(orchard: Orchard, scripted_runs: ScriptedRuns):
    said = await orchard("run", "add a greeting", "--agent-command", "scripted", "--address", "127.0.0.1:1", address=False)
    assert (said.code, said.out) == (2, "") and said.err.count("\n") == 1 and scripted_runs.started == []
    assert said.err.startswith("orchard: cannot reach Temporal at 127.0.0.1:1")
    assert said.err.endswith("; check --address / TEMPORAL_ADDRESS, or drop them to use the embedded server\n")


@pytest.mark.parametrize(("argv", "says"), [
    (["--runs", "0"], "--runs 0: give a number of runs, 1 or more"),
    (["-S", "n"], "malformed -S value 'n'; use -S key=value"),
    (["--strategy", "best-of-m"], "unknown strategy 'best-of-m' (did you mean 'best-of-n'?)"),
    (["--strategy", "best-of-n", "-S", "n=lots"], "bad value for parameter 'n'"),
    (["--timeout", "-5"], "--timeout: Input should be greater than 0"),
    (["--detach", "--with-worker"], "--detach needs a worker that outlives this command"),
    (["--base-branch", "nope"], "base branch 'nope' does not exist"),
    (["--cli-args", "--level 'very high"], "--cli-args: No closing quotation; quote values that contain spaces"),
    (["--env", "ANTHROPIC_API_KEY=sk-x"], "ANTHROPIC_API_KEY looks like a credential, and its value would enter the run's history"),
    (["--api-key", "sk-test"], "--api-key, --oauth-token and --base-url configure the embedded worker (or --with-worker)"),
    (["--strategy", "multi-branch", "-S", 'variants=[{"modle": "x"}]'], "variant 1: unknown setting 'modle'; accepted: agent_command,"),
    (["--strategy", "multi-branch", "-S", "variants=@missing.yaml"], "-S variants: cannot read missing.yaml: No such file or directory"),
    (["--strategy", "shadow", "-S", 'variants=[{"id": "a"}]', "-S", "primary=b"], "no variant 'b'; variants: a"),
    (["--strategy", "round-robin", "-S", 'variants=[{"id": "a"}]'], "experiment is required"),
    (["--strategy", "bug-finding"], "target_area is required"),
    (["--strategy", "doc-review", "-S", "pages_file=pages.yml"], "-S pages_file: cannot read pages.yml"),
    (["--strategy", "iterative", "-S", "rounds=2"], "unknown parameter 'rounds' for strategy 'iterative'; accepted: model, iterations,"),
    (["--strategy", "loop", "-S", "mode=hybird"], "unknown loop mode 'hybird'; available: custom, fixed, hybrid, ralph (did you mean 'hybrid'?)"),
])
async def test_bad_input_is_one_line_exit_2_and_starts_nothing(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue, argv: list[str], says: str):
    said = await orchard(*scripted(scripted_queue, "add a greeting", *argv))
    assert said.code == 2 and said.out == "" and scripted_runs.started == []
    assert said.err.count("\n") == 1 and said.err.startswith("orchard: ") and says in said.err, said.err
    assert "sk-" not in said.err  # a credential given is never echoed


async def test_a_bad_worker_processes_in_orchard_yaml_is_one_line_and_nothing_starts(orchard: Orchard, scripted_runs: ScriptedRuns, scripted_queue,
                                                                                   repo: Path):
    (repo / "orchard.yaml").write_text("worker:\n  processes: 0\n")
    said = await orchard(*scripted(scripted_queue, "add a greeting", "--output", "quiet"))
    assert (said.code, said.out, scripted_runs.started) == (2, "", [])
    assert said.err == (f"orchard: config file {repo / 'orchard.yaml'}: worker.processes: 0 is no number of worker processes: give a whole number "
                        "from 1 to 200 (each runs one of the worker's 200 activities at least)\n")
