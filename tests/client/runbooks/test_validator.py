"""The semantic layer: every problem at once, each with its place, and no problem that another one explains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from client.runbooks.registry import load_runbooks, runbook_files
from tests.conftest import ROOT

BROKEN = ROOT / "tests" / "runbooks" / "broken"
EXAMPLES = ROOT / "examples" / "runbooks"


def _expected(path: Path) -> list[tuple[str, str]]:
    """`# expect: PLACE | FRAGMENT` lines: each problem the file must produce (and no other)."""
    return [(m[1].strip(), m[2].strip()) for m in re.finditer(r"^# expect: ?(.*?) ?\| (.*)$", path.read_text(), re.M)]


@pytest.fixture(scope="module")
def broken():  # type: ignore[no-untyped-def]
    return load_runbooks(runbook_files(BROKEN))


@pytest.mark.parametrize("path", [p for p in runbook_files(BROKEN) if p.name != "shared.toml"], ids=lambda p: p.stem)
def test_each_kind_of_problem_is_caught_with_its_place(broken, path: Path) -> None:  # type: ignore[no-untyped-def]
    expected = _expected(path)
    found = [p for p in broken.problems if Path(p.file).name == path.name]
    assert expected, f"{path.name} says nothing it expects"
    for place, fragment in expected:
        assert any(p.place == place and fragment in p.message for p in found), (f"{path.name}: no problem at {place!r} saying {fragment!r}; found:\n"
                                                                                + "\n".join(map(str, found)))
    assert len(found) == len(expected), "\n".join(map(str, found))


def test_a_file_with_five_different_errors_reports_all_five(broken) -> None:  # type: ignore[no-untyped-def]
    found = [p for p in broken.problems if p.file.endswith("five_errors.toml")]
    assert len(found) == 5 and len({p.place for p in found}) == 5
    assert all(str(p).startswith("tests/runbooks/broken/five_errors.toml: ") or "five_errors.toml: " in str(p) for p in found)


def test_the_referenced_runbook_is_fine_and_its_definitions_resolve(broken) -> None:  # type: ignore[no-untyped-def]
    assert not [p for p in broken.problems if p.file.endswith("shared.toml")]
    assert "shared" in broken.runbooks and "review" in broken.runbooks["shared"].tasks


def test_the_examples_are_valid() -> None:
    loaded = load_runbooks(runbook_files(EXAMPLES))
    assert loaded.problems == [] and sorted(loaded.runbooks) == ["bugfix", "build", "common"]


def _problems(tmp_path: Path, **files: str) -> list[str]:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return [f"{p.place}: {p.message}" for p in load_runbooks(runbook_files(tmp_path)).problems]


def test_a_reference_to_an_entry_that_could_not_be_read_is_not_reported_again(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        lib='[task.plan]\nprompt = "x"\nmodle = "y"\n',
        broken_file='[task.x\n',
        main='[pipeline.p]\ninputs = []\n[[pipeline.p.phase]]\nname = "a"\ntask = "lib.task.plan"\n'
             '[[pipeline.p.phase]]\nname = "b"\ntask = "broken_file.task.x"\n',
    )
    assert len(problems) == 2
    assert any(p.startswith("task.plan: unknown key 'modle'") for p in problems) and any("TOML syntax error" in p for p in problems)


def test_orchard_strategies_exist_and_take_the_settings_given(tmp_path: Path) -> None:
    problems = _problems(tmp_path, main=(
        '[pipeline.p]\ninputs = ["name"]\n'
        '[[pipeline.p.phase]]\nname = "a"\nrun = { orchard = "best-of-n", agent = "t", n = "three" }\n'
        '[[pipeline.p.phase]]\nname = "b"\nrun = { orchard = "best-of-n", prompt = "Write {name}", n = 3 }\n'
        '[task.t]\nprompt = "do {name}"\n'
    ))
    assert len(problems) == 1 and problems[0].startswith('pipeline.p.phase[0] "a": run.orchard: bad value for parameter \'n\' of strategy \'best-of-n\'')


def test_commands_workers_and_child_pipelines_get_the_inputs_they_need(tmp_path: Path) -> None:
    problems = _problems(tmp_path, main=(
        '[command.go]\nargs = "<name> [--tag <t>]"\nrun = { pipeline = "two" }\n'
        '[command.echo]\nargs = "<who>"\nrun = "echo {who} {what}"\n'
        '[worker.w]\nqueue = "q"\nhandler = "pipeline.two"\n[queue.q]\nsource = "echo []"\n'
        '[pipeline.two]\ninputs = ["name", "prompt"]\n[[pipeline.two.phase]]\nname = "a"\nrun = "echo {name} {prompt}"\n'
        '[[pipeline.two.phase]]\nname = "child"\nrun = { pipeline = "one", inputs = { nope = "x" } }\n'
        '[pipeline.one]\ninputs = ["topic"]\n[[pipeline.one.phase]]\nname = "a"\nrun = "echo {topic}"\n'
    ))
    assert problems == [
        "command.echo: run: {what} cannot exist in command echo (its args): it reads its args and config only",
        "command.go: args '<name> [--tag <t>]' do not give prompt, which pipeline two needs",
        "command.go: args: tag is not an input of pipeline two (inputs: name, prompt)",
        'pipeline.two.phase[1] "child": pipeline one needs topic: give run.inputs (an input left out takes this pipeline\'s value of the same name)',
        'pipeline.two.phase[1] "child": run.inputs: nope is not an input of pipeline one (inputs: topic)',
    ]  # worker w's items give pipeline two its name and prompt by their fields (issue 26, item 2): checked when an item comes


def test_a_name_that_cannot_exist_says_what_the_place_can_read(tmp_path: Path) -> None:
    """A monitor's source, a queue's source and a cron's command read config (and the cron) only:
    the message says so, not a pipeline's list of inputs, defaults and outputs."""
    problems = _problems(tmp_path, main=(
        '[cron.c]\ninterval = "5m"\nmonitors = ["m"]\nrun = "echo {session_name}"\n'
        '[monitor.m]\nsource = "tmux ls -F {session}"\nrun = "echo {name}"\n'
        '[queue.q]\nsource = "cat {file}"\n'
    ))
    assert problems == [
        "cron.c: run: {session_name} cannot exist in cron c: it reads config and cron only",
        "monitor.m: source: {session} cannot exist in monitor m's source: it reads config only",
        "queue.q: source: {file} cannot exist in queue q's source: it reads config only",
    ]


def test_a_pipeline_that_runs_itself_and_a_guard_timing_out_to_a_missing_phase(tmp_path: Path) -> None:
    problems = _problems(tmp_path, main=(
        '[pipeline.a]\ninputs = []\n[[pipeline.a.phase]]\nname = "x"\nrun = { pipeline = "b" }\npre = ["g"]\n'
        '[pipeline.b]\ninputs = []\n[[pipeline.b.phase]]\nname = "y"\npipeline = "a"\n'
        '[guard.g]\ncondition = "true"\ntimeout = "1m"\non_timeout = "blocked"\n'
    ))
    assert problems == [
        "pipeline.a: runs itself: a -> b -> a",
        'pipeline.a.phase[0] "x": guard g\'s on_timeout = \'blocked\' is not a phase of pipeline a (or escalate, failed)',
        "pipeline.b: runs itself: b -> a -> b",
    ]


def test_a_loop_back_that_can_leave_is_allowed_and_done_may_name_a_phase(tmp_path: Path) -> None:
    assert _problems(tmp_path, main=(
        '[pipeline.fix]\ninputs = ["bug"]\n'
        '[[pipeline.fix.phase]]\nname = "fix"\nrun = "echo {bug}"\nnext = "verify"\n'
        '[[pipeline.fix.phase]]\nname = "verify"\nrun = "make test"\nnext = "done"\non_fail = "fix"\n'
        '[[pipeline.fix.phase]]\nname = "done"\nrun = "echo merged {outputs.verify}"\n'
    )) == []
