"""Runbooks written as otters' users write them (issue 26): each idiom loads, checks and reads as
it means in otters, with Orchard's stricter choices kept (an undefined variable is an error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from client.runbooks.registry import RunbookRegistry, load_runbooks, runbook_files
from tests.conftest import ROOT

OTTERS = ROOT / "tests" / "runbooks" / "otters"


def _load(tmp_path: Path, **files: str) -> list[str]:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return [f"{p.place}: {p.message}" for p in load_runbooks(runbook_files(tmp_path)).problems]


def test_a_runbook_named_with_a_dot_loads_beside_its_namesake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """otters' docs keep build.minimal.toml beside build.toml: two runbooks, build and build.minimal,
    each with a command build; references name them from the right (build.minimal.pipeline.build)."""
    pipeline = '[command.build]\nargs = "<name>"\nrun = { pipeline = "build" }\n[pipeline.build]\ninputs = ["name"]\n' \
               '[[pipeline.build.phase]]\nname = "init"\nrun = "echo {name}"\n'
    assert _load(tmp_path, build=pipeline, **{"build.minimal": pipeline + '[[pipeline.build.phase]]\nname = "plan"\nrun = { agent = "planning" }\n'
                                              '[agent.planning]\nprompt = "plan {name}"\n'}) == []
    registry = RunbookRegistry.load_directory(tmp_path)
    assert registry.resolve("build.minimal.pipeline.build").ref == "build.minimal.pipeline.build"
    assert registry.resolve("build.minimal.build", "pipeline").phases[1].action.task == "build.minimal.task.planning"
    assert sorted(registry.bundle("build.minimal.pipeline.build").runbooks) == ["build.minimal"]
    assert main(["runbook", "show", "--runbooks", str(tmp_path), "build.minimal"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["pipeline build.minimal.build", "  inputs: name", "  1. init  run      $ echo {name}"]
    assert main(["runbook", "validate", str(tmp_path / "build.minimal.toml")]) == 0
    assert capsys.readouterr().out.endswith("build.minimal.toml: valid: 1 command, 1 pipeline, 1 task (2 phases)\n")


def test_the_otters_test_runbooks_validate(capsys: pytest.CaptureFixture[str]) -> None:
    """tests/runbooks/otters: runbooks written in each otters idiom of issue 26, items 1-3 and 5-8."""
    loaded = load_runbooks(runbook_files(OTTERS))
    assert loaded.problems == [] and sorted(loaded.runbooks) == [
        "bugfix", "build", "build.actions", "build.minimal", "janitor", "loop", "loop.events", "mergeq", "triager", "watchdog"]
    assert main(["runbook", "validate", "--runbooks", str(OTTERS)]) == 0
    assert capsys.readouterr().out.count(": valid: ") == 10


def test_branch_workspace_and_pipeline_are_a_pipeline_s_own_names_and_orchard_s_values_are_orchard_name(tmp_path: Path) -> None:
    """Item 1: otters writes them as inputs and defaults; Orchard's are orchard.NAME. Other runtime
    names stay Orchard's, and so does `orchard`; a branch default that names a protected branch is refused."""
    assert _load(tmp_path, ops='[pipeline.merge]\ninputs = ["branch", "pipeline"]\n[pipeline.merge.defaults]\nworkspace = "w/{branch}"\n'
                              '[[pipeline.merge.phase]]\nname = "a"\nrun = "echo {branch} {pipeline} {workspace} {orchard.branch} {orchard.run_id}"\n') == []
    assert _load(tmp_path, ops='[pipeline.p]\ninputs = ["orchard", "phase"]\n[pipeline.p.defaults]\nbranch = "main"\n'
                              '[[pipeline.p.phase]]\nname = "a"\nrun = "echo {orchard.brnch}"\n') == [
        "pipeline.p: defaults: branch = 'main' is a protected branch: a pipeline works on a branch of its own (publish = [\"main\"] lets it push there)",
        "pipeline.p: inputs: 'orchard' is Orchard's (Orchard's own values, whatever the runbook names: orchard.branch, orchard.workspace, "
        "orchard.pipeline, orchard.run_id, orchard.runbook, orchard.phase); give yours another name",
        "pipeline.p: inputs: 'phase' is Orchard's (the phase that runs now); give yours another name",
    ]
    assert _load(tmp_path, ops='[pipeline.p]\ninputs = []\n[[pipeline.p.phase]]\nname = "a"\nrun = "echo {orchard.brnch}"\n') == [
        'pipeline.p.phase[0] "a": run: orchard.brnch is not one of Orchard\'s values (did you mean \'branch\'?): orchard.branch, orchard.workspace, '
        "orchard.pipeline, orchard.run_id, orchard.runbook, orchard.phase"]


def test_a_branch_default_is_the_branch_render_shows_and_run_refuses_a_protected_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ops.toml").write_text('[pipeline.fix]\ninputs = ["bug"]\n[pipeline.fix.defaults]\nbranch = "{bug}"\n'
                                       '[[pipeline.fix.phase]]\nname = "a"\nrun = "git push origin --delete {branch} # not {orchard.workspace}"\n')
    assert main(["runbook", "render", "--runbooks", str(tmp_path), "ops.fix", "-i", "bug=fix/7"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ops.fix with bug='fix/7', branch='fix/7'", "1. a", "   $ git push origin --delete fix/7 # not <workspace>"]
    assert main(["runbook", "run", "--runbooks", str(tmp_path), "ops.fix", "-i", "bug=main"]) == 2
    assert "pipeline fix: branch = 'main' is a protected branch" in capsys.readouterr().err


def test_a_queue_item_s_fields_are_variables_where_a_worker_hands_it_and_nowhere_else(tmp_path: Path) -> None:
    """Item 2: a worker's pipeline (of several inputs) and task, and a dead letter's hook, read the
    item's fields ({id}) and the item by its queue's name ({issue}); a pipeline no worker runs
    still may not read a name nothing defines."""
    assert _load(tmp_path, ops=(
        '[worker.mergeq]\nqueue = "merges"\nhandler = "pipeline.merge"\n[worker.loop]\nqueue = "issues"\nhandler = "task.resolve"\n'
        '[queue.merges]\nsource = "oj queue list merges --json"\n[queue.merges.dead]\non_add = "oj emit merge:dead --id {id} --branch {merge.branch}"\n'
        '[queue.issues]\nsource = "wok ready --json"\n'
        '[pipeline.merge]\ninputs = ["branch", "pipeline"]\n[[pipeline.merge.phase]]\nname = "complete"\nrun = "oj queue complete merges {id}"\n'
        '[task.resolve]\nprompt = "Issue {issue.id}: {title}"\n'
        '[pipeline.alone]\ninputs = []\n[[pipeline.alone.phase]]\nname = "a"\nrun = "echo {id}"\n'
    )) == ['pipeline.alone.phase[0] "a": run: {id} cannot exist in pipeline alone: not an input, a default, config, an output or a runtime value']


def test_a_guard_s_on_timeout_is_a_phase_escalate_failed_wait_or_a_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 3: one word is a phase (or escalate, failed, wait); anything else is a shell command, checked as one."""
    (tmp_path / "ops.toml").write_text(
        '[pipeline.p]\ninputs = ["id"]\n[[pipeline.p.phase]]\nname = "a"\npre = ["gone", "busy"]\nrun = "true"\n'
        '[guard.gone]\ncondition = "false"\ntimeout = "1m"\non_timeout = "oj queue remove merges {id}"\n'
        '[guard.busy]\ncondition = "false"\ntimeout = "30m"\non_timeout = "wait"\n')
    registry = RunbookRegistry.load_directory(tmp_path)
    gone, busy = registry.resolve("ops.guard.gone"), registry.resolve("ops.guard.busy")
    assert (gone.on_timeout.kind, gone.on_timeout.command.source, gone.on_timeout.command.shell) == ("command", "oj queue remove merges {id}", True)
    assert busy.on_timeout.kind == "wait"
    assert main(["runbook", "show", "--runbooks", str(tmp_path), "ops.p"]) == 0
    shown = capsys.readouterr().out
    assert "(timeout 1m then $ oj queue remove merges {id} (then failed))" in shown and "(timeout 30m then wait)" in shown
    assert _load(tmp_path, ops='[pipeline.p]\ninputs = []\n[[pipeline.p.phase]]\nname = "a"\npre = ["g"]\nrun = "true"\n'
                              '[guard.g]\ncondition = "false"\ntimeout = "1m"\non_timeout = "oj queue remove {nope}"\n') == [
        'guard.g: on_timeout: {nope} cannot exist in pipeline p: not an input, a default, config, an output or a runtime value']


def test_an_attempt_runs_an_agent_as_a_phase_does(tmp_path: Path) -> None:
    """Item 5: run = { agent = X }, agent = X and task = X."""
    assert _load(tmp_path, ops=(
        '[strategy.merge]\n[[strategy.merge.attempt]]\nname = "a"\nrun = { agent = "resolve" }\n'
        '[[strategy.merge.attempt]]\nname = "b"\nagent = "resolve"\n[[strategy.merge.attempt]]\nname = "c"\ntask = "resolve"\n'
        '[agent.resolve]\nprompt = "resolve"\n[pipeline.p]\ninputs = []\n[[pipeline.p.phase]]\nname = "m"\nrun = { strategy = "merge" }\n'
    )) == []
    chain = RunbookRegistry.load_directory(tmp_path).resolve("ops.strategy.merge")
    assert [a.action.task for a in chain.attempts] == ["ops.task.resolve"] * 3
    assert _load(tmp_path, ops='[strategy.s]\n[[strategy.s.attempt]]\nname = "a"\nagent = "x"\nrun = "true"\n') == [
        'strategy.s.attempt[0] "a": an attempt runs a command (run = "...") or an agent (run = { agent = NAME }, agent = NAME or task = NAME): one of them']


def test_otters_blocked_phase_is_reachable_through_its_guard_and_a_bare_one_is_not(tmp_path: Path) -> None:
    """Item 8: a phase that only waits on its pre guards and that nothing leads to is entered on the
    way to its next; one that waits on nothing is still unreachable."""
    phases = ('[pipeline.build]\ninputs = ["after"]\n[[pipeline.build.phase]]\nname = "init"\nrun = "true"\nnext = "plan"\n'
              '[[pipeline.build.phase]]\nname = "blocked"\n{pre}next = "plan"\n[[pipeline.build.phase]]\nname = "plan"\nrun = "true"\n'
              '[guard.blocker_merged]\ncondition = "test -z \'{{after}}\'"\n')
    assert _load(tmp_path, ops=phases.format(pre='pre = ["blocker_merged"]\n')) == []
    assert _load(tmp_path, ops=phases.format(pre="")) == [
        'pipeline.build.phase[1] "blocked": is unreachable: no next or on_fail leads to it from the first phase, init']


def test_render_takes_a_worker_s_pipeline_item_fields_as_well_as_its_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "render", "--runbooks", str(OTTERS), "mergeq.merge", "-i", "branch=feature/x", "-i", "pipeline=", "-i", "id=m1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "mergeq.merge with branch='feature/x', pipeline=''" and "   $ oj queue complete merges m1" in out
    assert main(["runbook", "render", "--runbooks", str(OTTERS), "build.build", "-i", "name=a", "-i", "prompt=b", "-i", "id=1"]) == 2
    assert "id: not an input of pipeline build" in capsys.readouterr().err  # no worker hands build items: a name it does not take is a mistake
