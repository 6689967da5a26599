"""`orchard runbook ...` as a user runs it, in a repository with runbooks/ at its root."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from client.cli import main
from tests.conftest import ROOT, make_repo

BUGS = [
    {"id": 3, "title": "Crash on save", "priority": 2, "labels": ["bug"]},
    {"id": 4, "title": "Typo", "priority": 1, "labels": ["bug"]},
    {"id": 5, "title": "Login fails", "priority": 3, "labels": ["bug", "auth"]},
    {"id": 6, "title": "Taken", "priority": 3, "labels": ["bug", "assigned"]},
]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = make_repo(tmp_path / "repo")
    shutil.copytree(ROOT / "examples" / "runbooks", repo / "runbooks")
    (repo / "bugs.json").write_text(json.dumps(BUGS))
    monkeypatch.chdir(repo / "runbooks")  # any folder of the repository finds runbooks/ at its root
    return repo


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["runbook", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_says_one_line_per_valid_runbook(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate")
    assert code == 0
    assert out.splitlines() == [
        f"{repo}/runbooks/bugfix.toml: valid: 1 command, 1 worker, 1 queue, 1 pipeline, 1 task (4 phases)".replace(f"{repo}/runbooks/", ""),
        "build.toml: valid: 1 command, 1 pipeline, 1 task (6 phases)",
        "common.toml: valid: 2 tasks, 2 guards, 1 strategy, 1 lock, 1 semaphore",
    ]


def test_validate_lists_every_problem_and_exits_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = ROOT / "tests" / "runbooks" / "broken"
    expected = sum(p.read_text().count("# expect:") for p in broken.glob("*.toml"))
    code, out, err = run(capsys, "validate", str(broken))
    assert code == 2 and err.startswith(f"orchard: {expected} problems in 24 runbooks")
    assert len(out.splitlines()) == expected and "five_errors.toml: lock.main: timeout: 'soon' is not a duration" in out
    # One file named: checked with its folder's others (its references may name them), only its problems said.
    code, out, _ = run(capsys, "validate", str(ROOT / "tests" / "runbooks" / "broken" / "cross_runbook.toml"))
    assert code == 2 and len(out.splitlines()) == 2 and all("cross_runbook.toml" in line for line in out.splitlines())
    code, _, err = run(capsys, "validate", "nowhere.toml")
    assert code == 2 and "nowhere.toml: no such file or folder" in _ + err


def test_a_broken_folder_stops_the_other_commands_with_its_problems(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "runbooks" / "common.toml").write_text((repo / "runbooks" / "common.toml").read_text().replace('max = 4', 'max = "four"'))
    code, out, err = run(capsys, "list")
    assert code == 2 and out == ""
    assert err == 'orchard: common.toml: semaphore.agents: max: must be a whole number, not string "four"\n'  # one problem, one line
    (repo / "runbooks" / "common.toml").write_text((repo / "runbooks" / "common.toml").read_text().replace('max = "four"', 'max = "four"\nmin = 1'))
    code, out, err = run(capsys, "list")
    assert code == 2 and out == "" and err.count("\n") == 3  # each problem, then what to do
    assert err.strip().splitlines()[-1].endswith("have 2 problems; fix them (`orchard runbook validate` lists them)")


def test_list_names_commands_pipelines_strategies_workers_and_queues(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    for line in ("command   build <name> <prompt> [-r/--reviewer <who>]  -> pipeline build.pipeline.build",
                 "pipeline  build.build: init -> plan -> execute -> verify -> merge -> done",
                 "strategy  merge: fast-forward | rebase | agent-resolve",
                 "worker    bugfix: queue bugfix.queue.bugs -> bugfix.pipeline.fix (concurrency 2)",
                 "queue     bugs: $ cat {config.bugs_file} (json)"):
        assert line in out
    code, out, _ = run(capsys, "list", "--output", "json")
    rows = {row["runbook"]: row for row in map(json.loads, out.splitlines())}
    assert rows["bugfix"]["pipelines"] == {"fix": ["reproduce", "fix", "verify", "merge"]}


def test_show_draws_the_pipeline_s_graph(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "bugfix.fix")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == ["pipeline bugfix.fix", "  inputs: bug"]
    assert "  3. verify     run      $ {config.test_command}" in lines
    assert "                next  -> merge    on_fail -> fix" in lines
    assert "                lock     common.lock.main_branch (timeout 30m, heartbeat 30s)" in lines
    assert any("2. rebase: $ git fetch origin {config.main}" in line and "(10m, rollback)" in line for line in lines)
    code, _, err = run(capsys, "show", "common")
    assert code == 2 and "runbook common has no pipelines" in err


def test_render_shows_what_each_phase_would_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "build.build", "-i", "name=auth", "-i", "prompt=Add login with sessions")
    assert code == 0
    assert out.splitlines()[0] == "build.build with name='auth', prompt='Add login with sessions', reviewer='nobody', title='Auth'"
    assert "     | Plan the feature \"auth\":" in out and "     | Add login with sessions" in out
    assert "   post common.guard.plan_exists: $ test -s plans/auth.md" in out
    assert "        rollback $ git rebase --abort 2>/dev/null; git reset --hard <checkpoint>" in out
    assert "   $ echo 'Merged Auth (<output of init>); review by nobody'" in out
    code, out, _ = run(capsys, "render", "bugfix.fix", "-i", 'bug={"id": 7, "title": "Login Fails", "labels": ["auth"]}')
    assert code == 0 and "   $ echo 'bug 7: Login Fails' > .orchard-bug-7-login-fails.txt" in out and "Labels: auth." in out


def test_show_and_render_name_a_thing_once(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a line says a thing is, it does not say again ("strategy strategy merge")."""
    shown = [run(capsys, "show", name)[1] for name in ("bugfix.fix", "build.build")]
    shown.append(run(capsys, "render", "build.build", "-i", "name=auth", "-i", "prompt=p")[1])
    shown.append(run(capsys, "render", "bugfix.fix", "-i", 'bug={"id": 7, "title": "t"}')[1])
    doubled = re.compile(r"\b(strategy +strategy|pipeline +pipeline|lock +lock|slots +semaphore|agent +(task|agent)) ")
    assert all(out for out in shown)
    assert not [line for out in shown for line in out.splitlines() if doubled.search(line)]
    assert any(re.search(r"strategy +(merge|common\.strategy\.)", line) for out in shown for line in out.splitlines())


@pytest.mark.parametrize(("argv", "says"), [
    (["render", "build.build", "-i", "name=auth"], "pipeline build needs prompt (inputs: name, prompt, reviewer); give it with -i NAME=VALUE"),
    (["render", "build.build", "-i", "name=a", "-i", "prompt=b", "-i", "nme=x"], "nme: not an input of pipeline build"),
    (["render", "build.built"], "runbook build has no pipeline 'built' (did you mean 'build'?)"),
    (["render", "build.build", "-i", "oops"], "-i 'oops': write -i NAME=VALUE"),
    (["show", "nobook.x"], "no runbook 'nobook'"),
])
def test_bad_names_and_inputs_are_one_line_and_exit_2(repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and says in err and len(err.strip().splitlines()) == 1


def test_items_runs_the_source_and_prints_what_a_worker_would_take(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "items", "bugfix.bugs")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [5, 3]  # not assigned, priority >= 2, highest first
    assert "2 items from queue bugs" in err
    (repo / "bugs.json").write_text('{"id": 1}\nnot json\n')
    code, out, err = run(capsys, "items", "bugfix.bugs")
    assert code == 2 and err.strip() == ("orchard: queue bugs: source `cat bugs.json` printed what format json cannot read: "
                                         "line 2: not JSON: Expecting value (column 1): not json")
    (repo / "bugs.json").unlink()
    code, _, err = run(capsys, "items", "bugfix.bugs")
    assert code == 2 and err.strip() == "orchard: queue bugs: source `cat bugs.json` exited 1: cat: bugs.json: No such file or directory"


def test_the_folder_comes_from_the_flag_or_orchard_yaml(repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "runbooks").rename(repo / "ops")
    monkeypatch.chdir(repo)
    code, _, err = run(capsys, "list")
    assert code == 2 and "no such folder of runbooks" in err
    assert run(capsys, "list", "--runbooks", "ops")[0] == 0
    (repo / "orchard.yaml").write_text("runbooks: ops\n")
    assert run(capsys, "list")[0] == 0


def test_validate_warns_about_each_value_a_shell_command_takes_raw(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "runbooks" / "ops.toml").write_text("""
[pipeline.p]
inputs = ["flags", "title"]
[pipeline.p.events]
on_complete = "echo {title | raw}"
[[pipeline.p.phase]]
name = "ls"
run = "ls {flags | raw} && echo {title}"
[agent.a]
prompt = "Fix {title | raw}"
""")
    code, out, _ = run(capsys, "validate")
    assert code == 0 and "ops.toml: valid: 1 pipeline, 1 task (1 phase)" in out
    said = "warning: raw puts {} into the shell command unquoted: what it holds (an input's, a queue item's, an output's text) runs as shell code"
    assert [line for line in out.splitlines() if "warning" in line] == [  # one per opt-out; a prompt is not a shell command
        f"ops.toml: pipeline.p: events.on_complete: {said.format('title')}",
        f'ops.toml: pipeline.p.phase[0] "ls": run: {said.format("flags")}',
    ]


def test_a_prompt_file_outside_the_runbooks_folder_is_never_read(repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET")
    (repo / "runbooks" / "prompts" / "linked.md").symlink_to(secret)
    outside = os.path.relpath(secret, repo / "runbooks")
    (repo / "runbooks" / "ops.toml").write_text(f"""
[pipeline.p]
inputs = []
[[pipeline.p.phase]]
name = "a"
agent = "leak"
[[pipeline.p.phase]]
name = "b"
agent = "linked"
[agent.leak]
prompt_file = "{outside}"
[agent.linked]
prompt_file = "prompts/linked.md"
""")
    code, out, err = run(capsys, "render", "ops.p")
    assert code == 2 and out == "" and "SECRET" not in err
    assert f"ops.toml: task.leak: prompt_file '{outside}' is outside the runbooks' folder {repo}/runbooks" in err
    code, out, _ = run(capsys, "validate")
    assert code == 2 and "SECRET" not in out
    assert [line.split(": prompt_file")[0] for line in out.splitlines()] == ["ops.toml: task.leak", "ops.toml: task.linked"]  # a link out is refused too


def test_validate_refuses_a_template_that_reaches_python_internals_as_render_does(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "runbooks" / "ops.toml").write_text("""
[pipeline.p]
inputs = []
[[pipeline.p.phase]]
name = "a"
run = "echo { ''.__class__.__mro__ }"
""")
    code, out, _ = run(capsys, "validate")
    assert code == 2 and out.splitlines() == [
        "ops.toml: pipeline.p.phase[0] \"a\": run: '__mro__' is one of Python's internals, which a template cannot reach (the sandbox refuses it)"]
    code, out, err = run(capsys, "render", "ops.p")
    assert code == 2 and out == "" and "'__mro__' is one of Python's internals" in err


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    """The runs `orchard runbook run` would start: its arguments as `orchard run` gets them."""
    runs: list[argparse.Namespace] = []

    async def start(args: argparse.Namespace) -> int:
        runs.append(args)
        return 0

    monkeypatch.setattr("client.commands.run.cmd_run", start)
    return runs


def inputs_of(args: argparse.Namespace) -> dict:
    return json.loads(next(p for p in args.params if p.startswith("inputs=")).split("=", 1)[1])


def test_orchard_s_options_may_follow_a_pipeline_s_name(repo: Path, capsys: pytest.CaptureFixture[str], started: list[argparse.Namespace]) -> None:
    code, _, err = run(capsys, "run", "--base-branch", "main", "build.build", "-i", "name=auth", "--output", "quiet", "--detach",
                       "-iprompt=Add auth", "--plugin", "command", "--agent-command", "my-agent --fast {prompt}")
    assert code == 0, err
    (args,) = started
    assert (args.output, args.detach, args.plugin, args.agent_command, args.base_branch) == ("quiet", True, "command", "my-agent --fast {prompt}", "main")
    assert inputs_of(args) == {"name": "auth", "prompt": "Add auth"}


def test_orchard_s_options_may_follow_a_command_and_its_words(repo: Path, capsys: pytest.CaptureFixture[str], started: list[argparse.Namespace]) -> None:
    code, _, err = run(capsys, "run", "build", "auth", "Add auth", "--plugin", "command", "--agent-command", "my-agent", "-r", "alice", "--output=quiet",
                       "--detach")
    assert code == 0, err
    (args,) = started
    assert (args.plugin, args.agent_command, args.output, args.detach) == ("command", "my-agent", "quiet", True)
    assert inputs_of(args) == {"name": "auth", "prompt": "Add auth", "reviewer": "alice"}


def test_an_option_the_command_defines_is_its_own_and_a_double_dash_ends_orchard_s(repo: Path, capsys: pytest.CaptureFixture[str],
                                                                                    started: list[argparse.Namespace]) -> None:
    (repo / "runbooks" / "ops.toml").write_text("""
[command.deploy]
args = "<target> [-m/--model <name>] [--detach]"
run = { pipeline = "p" }
[pipeline.p]
inputs = ["target", "model", "detach"]
defaults = { model = "sonnet", detach = "" }
[[pipeline.p.phase]]
name = "a"
run = "echo {target}"
""")
    assert run(capsys, "run", "deploy", "prod", "--model", "v2", "--detach", "--output", "quiet")[0] == 0
    assert run(capsys, "run", "deploy", "--model", "opus", "--detach", "--", "prod", "--model", "v2")[0] == 0
    assert run(capsys, "run", "--model", "opus", "deploy", "prod", "-m", "v2")[0] == 0
    seen = [(a.model, a.detach, a.output, inputs_of(a)) for a in started]
    assert seen == [
        (None, False, "quiet", {"target": "prod", "model": "v2", "detach": True}),  # the command's options; --output is Orchard's
        ("opus", True, None, {"target": "prod", "model": "v2"}),  # before the --: Orchard's; after it: the command's
        ("opus", False, None, {"target": "prod", "model": "v2"}),
    ]
    code, out, _ = run(capsys, "validate")
    said = "is also Orchard's option: after the command's name it is the command's; Orchard's goes before the name, or after it but before a --"
    assert code == 0 and [line.split(" is also")[0] for line in out.splitlines() if said in line] == [
        "ops.toml: command.deploy: args: warning: --detach", "ops.toml: command.deploy: args: warning: --model"]


@pytest.mark.parametrize(("argv", "says"), [
    (["build.build", "auth"], "build.build is a pipeline: give its inputs as -i NAME=VALUE, not 'auth'"),
    (["build.build", "--output", "loud"], "argument --output: invalid choice: 'loud'"),
    (["build", "auth", "Add auth", "--reviewr", "x"], "build: unknown option --reviewr; usage: <name> <prompt> [-r/--reviewer <who>]"),
    (["build", "auth", "Add auth", "--detach", "--timeout"], "argument --timeout: expected one argument"),
])
def test_what_follows_the_name_and_is_nobody_s_is_refused_in_one_line(repo: Path, capsys: pytest.CaptureFixture[str], started: list[argparse.Namespace],
                                                                     argv: list[str], says: str) -> None:
    code, out, err = run(capsys, "run", *argv)
    assert code == 2 and out == "" and says in err and len(err.strip().splitlines()) == 1 and started == []


def test_a_command_word_that_is_json_arrives_as_an_object_as_with_i(repo: Path, capsys: pytest.CaptureFixture[str], started: list[argparse.Namespace]) -> None:
    bug = {"id": 1, "title": "Crash on save", "labels": ["bug"]}
    code, _, err = run(capsys, "run", "bugfix", json.dumps(bug))
    assert code == 0, err  # was: 'str object' has no attribute 'id'
    assert inputs_of(started[0]) == {"bug": bug}
    assert run(capsys, "run", "build", "auth", "[WIP] add auth")[0] == 0  # text that is not JSON stays text
    assert inputs_of(started[1])["prompt"] == "[WIP] add auth"


def test_running_a_pipeline_past_the_most_phases_is_one_line_exit_2_and_starts_nothing(repo: Path, capsys: pytest.CaptureFixture[str],
                                                                                       started: list[argparse.Namespace]) -> None:
    """10,000 phases were a RecursionError traceback after 25 s (issue 24, item 16)."""
    tables = "".join(f'[[pipeline.long.phase]]\nname = "p{i}"\nrun = "echo {i}"\n\n' for i in range(10_000))
    (repo / "runbooks" / "big.toml").write_text(f"[pipeline.long]\ninputs = []\n\n{tables}")
    code, out, err = run(capsys, "run", "big.long")
    assert (code, out, started) == (2, "", [])
    assert err.count("\n") == 1 and "has 10,000 phases; a pipeline holds at most 200" in err, err
