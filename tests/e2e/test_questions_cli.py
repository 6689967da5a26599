"""A run that waits for a person, as a user meets it through the `orchard` command: the question
on stderr of `orchard run`, `orchard pending` and `orchard list --waiting`, `orchard answer` with
its refusals (one line, exit 2, the run unchanged), and the answer in `show` and the history."""

from __future__ import annotations

import base64
import getpass
import json
import time

import pytest

from tests.conftest import DEMO_AGENT, ROOT, orchard

pytestmark = pytest.mark.slow


def pending(env, cwd) -> list[dict]:
    out = orchard("pending", "--output", "json", env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_a_person_approves_another_best_of_n_candidate(embedded, repo):
    home, env, _, _ = embedded
    started = orchard("run", "add a greeting", "--strategy", "best-of-n", "-S", "n=2", "-S", "approve=true", "--agent-command", DEMO_AGENT, "--detach",
                      env=env, cwd=repo)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while not (questions := pending(env, repo)):
        assert time.monotonic() < deadline, "the run never asked"
        time.sleep(0.3)
    (question,) = questions
    assert question["run_id"] == run_id and question["key"] == "approve" and question["choices"] == ["1", "2"]
    scored = question["default"]
    other = "2" if scored == "1" else "1"
    assert run_id in orchard("list", "--waiting", env=env, cwd=repo).stdout
    shown = orchard("show", run_id, env=env, cwd=repo)
    assert f"run {run_id} waits for a person: best-of-n picked candidate {scored}" in shown.stdout and "answer: orchard answer" in shown.stdout
    as_json = json.loads(orchard("show", run_id, "--output", "json", env=env, cwd=repo).stdout)
    assert as_json["status"] == "running" and [q["key"] for q in as_json["waiting_for"]] == ["approve"]

    refused = orchard("answer", run_id, "7", env=env, cwd=repo)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "answer refused: '7' is not a choice of question 'approve'; choose one of: 1, 2" in refused.stderr
    assert pending(env, repo) == questions  # the run is unchanged
    unknown = orchard("answer", "run_nope", "1", env=env, cwd=repo)
    assert unknown.returncode == 2 and "no run 'run_nope'" in unknown.stderr

    taken = orchard("answer", run_id, other, "--note", "smaller change", env=env, cwd=repo)
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.strip() == f"run {run_id}: approve answered '{other}' by {getpass.getuser()} (smaller change)"
    watched = orchard("watch", run_id, "--output", "json", env=env, cwd=repo)
    result = json.loads(watched.stdout.strip().splitlines()[-1])
    assert watched.returncode == 0 and result["status"] == "success"
    winner = result["instances"][0]
    assert winner["metadata"]["candidate"] == int(other) and winner["metadata"]["winner"] is True
    assert winner["metadata"]["selection_reason"].startswith(f"chosen by {getpass.getuser()} over candidate {scored} (highest score")
    assert result["questions"][0]["by"] == getpass.getuser()
    assert pending(env, repo) == [] and run_id not in orchard("list", "--waiting", env=env, cwd=repo).stdout

    again = orchard("answer", run_id, scored, env=env, cwd=repo)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "it waits for no answer" in again.stderr
    shown = orchard("show", run_id, env=env, cwd=repo).stdout
    assert f"-> '{other}' by {getpass.getuser()} (smaller change)" in shown
    events = json.loads(orchard("history", run_id, env=env, cwd=repo).stdout)["events"]
    (accepted,) = [e["workflowExecutionUpdateAcceptedEventAttributes"] for e in events if "workflowExecutionUpdateAcceptedEventAttributes" in e]
    request = json.loads(base64.b64decode(accepted["acceptedRequest"]["input"]["args"]["payloads"][0]["data"]))
    assert request == {"choice": other, "note": "smaller change", "by": getpass.getuser(), "key": None}


def test_orchard_run_says_the_run_waits_and_a_timeout_takes_the_default(embedded, repo):
    _, env, _, _ = embedded
    asking = str(ROOT / "tests" / "strategy_files" / "asking.py")
    ran = orchard("run", "greet", "--strategy", asking, "-S", "default=go", "-S", "timeout=3", "--agent-command", DEMO_AGENT, "--output", "streaming", env=env,
                  cwd=repo)
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stdout.split("run ", 1)[1].split()[0]
    line = next(x for x in ran.stderr.splitlines() if "waits for a person" in x)
    assert line.startswith(f"orchard: run {run_id} waits for a person: Start work on 'greet'? [go / stop]; default go, taken at ")
    assert line.endswith(f"; answer: orchard answer {run_id} CHOICE")
    assert "asked question/1: Start work on 'greet'? -> no answer in time, took the default 'go'" in ran.stdout
