"""`orchard eval`'s bad input: one line, exit 2, nothing made, before any server or agent is
asked. (The evaluation itself, with the simulated agents: tests/e2e/test_eval_cli.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from tests.client.evals.test_tasks import SHIPPED, task_folder


@pytest.mark.parametrize(("args", "said"), [
    (["/no/such/tasks"], "orchard: /no/such/tasks: no such folder of tasks"),
    ([str(SHIPPED), "-S", "select=score,judge"], "orchard: -S select=score,judge: unknown method 'judge'; one of score, tests, tournament or tests+tournament"),
    ([str(SHIPPED), "-S", "compare=score"], "orchard: -S compare: orchard eval sets it from -S select"),
    ([str(SHIPPED), "--task", "99-nope"], "orchard: --task 99-nope: no such task in "),
    ([str(SHIPPED), "--check-timeout", "0"], "orchard: --check-timeout 0: give a number of seconds above 0"),
    ([str(SHIPPED), "-S", "n"], "orchard: malformed -S value 'n'; use -S key=value"),
])
def test_bad_input_is_one_line_and_exit_2(args, said, capsys):
    assert main(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1, err


def test_a_task_without_a_check_is_named(tmp_path, capsys):
    task_folder(tmp_path / "tasks", toml='title = "no check"\n')
    assert main(["eval", str(tmp_path / "tasks")]) == 2
    said = "task.toml: check: the hidden check command is missing (check = \"COMMAND\")"
    assert capsys.readouterr().err == f"orchard: task {tmp_path / 'tasks' / '01-t'}: {said}\n"


def test_a_setting_best_of_n_refuses_leaves_nothing(tmp_path: Path, capsys):
    assert main(["eval", str(SHIPPED), "--task", "07-clamp", "-S", "n=0", "-S", "select=score,tests", "--workdir", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("orchard: ") and "n must be at least 1" in err, err
    assert list((tmp_path / "work").iterdir()) == []


def test_a_failing_setup_script_stops_the_evaluation_before_any_run(tmp_path: Path, capsys):
    task_folder(tmp_path / "tasks", name="01-ok")
    task_folder(tmp_path / "tasks", name="02-broken", setup="echo no network >&2; exit 1\n")
    assert main(["eval", str(tmp_path / "tasks"), "--workdir", str(tmp_path / "work")]) == 2
    assert capsys.readouterr().err == f"orchard: task {tmp_path / 'tasks' / '02-broken'}: setup.sh failed (no network)\n"
    assert list((tmp_path / "work").iterdir()) == []


def test_a_used_workdir_is_refused_and_left_as_it_was(tmp_path: Path, capsys):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "mine.txt").write_text("keep me\n")
    assert main(["eval", str(SHIPPED), "--workdir", str(tmp_path / "work")]) == 2
    assert "it exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["mine.txt"]


def test_the_candidates_are_the_results_keyed_candidate_each_once():
    from client.commands.eval import _candidates
    from workflows.sdk.models import InstanceResult, RunResult, Selection

    def result(key: str, number: int | None) -> InstanceResult:
        return InstanceResult(success=True, key=key, selection=Selection(candidate=number) if number is not None else None)

    run = RunResult(run_id="r", strategy="best-of-n", status="success", base_branch="main", base_commit="0" * 40, duration_seconds=1.0,
                    instances=[result("candidate/2", 2), result("synthesize", None), result("candidate/1", 1), result("tests/writer/1", None)])
    assert [(n, r.key) for n, r in _candidates(run)] == [(1, "candidate/1"), (2, "candidate/2")]
