"""The simulated agents of `orchard eval` (evals/simulated_agent.py), each role run as the command
plugin runs it (the prompt on stdin, ORCHARD_KEY and ORCHARD_BASE_COMMIT set; in this process, for
speed) in a repository of the task's: a candidate commits the reference or the wrong fix as its
draw says, a scorer, a judge and a test writer answer as their error rates say."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from client.evals.tasks import load_tasks, make_repository
from tests.conftest import GIT_IDENTITY, ROOT

TASKS = ROOT / "evals" / "tasks"
AGENT = ROOT / "evals" / "simulated_agent.py"
TASK = "07-clamp"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    (task,) = load_tasks(TASKS, [TASK])
    return tmp_path / "repo", make_repository(task, tmp_path / "repo")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("simulated_agent", AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIMULATED = _load()


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)


def agent(repo: Path, base: str, prompt: str, key: str, *flags: str) -> str:
    """The agent's answer (what it printed), run in `repo` as the command plugin runs it."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        patch.setattr(sys, "argv", ["simulated_agent.py", str(TASKS), *flags])
        patch.setattr(sys, "stdin", io.StringIO(prompt))
        patch.setenv("ORCHARD_KEY", key)
        patch.setenv("ORCHARD_BASE_COMMIT", base)
        with contextlib.redirect_stdout(out):
            assert SIMULATED.main() == 0
    return out.getvalue()


def prompt_of(task: str = TASK) -> str:
    return (TASKS / task / "prompt.md").read_text().strip()


def fixed(repo: Path) -> str:
    return (repo / "mathkit" / "bounds.py").read_text()


def commit_of(repo: Path, kind: str) -> str:
    """The repository's file as the reference (or wrong) fix writes it."""
    return (TASKS / TASK / kind / "mathkit" / "bounds.py").read_text()


def diff(repo: Path, base: str) -> str:
    return subprocess.run(["git", "diff", f"{base}..HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_a_candidate_solves_as_often_as_it_is_told_and_the_same_each_time(repo):
    path, base = repo
    agent(path, base, f"{prompt_of()}\n\nApproach hint for this attempt: x", "candidate/1", "--solve", "1")
    assert fixed(path) == commit_of(path, "solution")
    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=path, check=True)
    agent(path, base, prompt_of(), "candidate/1", "--solve", "0")
    assert fixed(path) == commit_of(path, "wrong")
    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=path, check=True)
    agent(path, base, prompt_of(), "candidate/3", "--solve", "0.5", "--seed", "7")
    solved = fixed(path) == commit_of(path, "solution")
    assert solved == (SIMULATED.draw("7", TASK, "candidate", "3") < 0.5)  # the seed's, the task's and the candidate's draw: the same each time
    draws = [SIMULATED.draw("7", TASK, "candidate", str(n)) for n in range(1, 1001)]
    assert 0.45 < sum(d < 0.5 for d in draws) / len(draws) < 0.55 and 0.15 < sum(d < 0.2 for d in draws) / len(draws) < 0.25


def test_scorers_judges_and_writers_answer_by_their_error_rates(repo):
    path, base = repo
    agent(path, base, prompt_of(), "candidate/1", "--solve", "1")
    right = diff(path, base)
    scorer = f"You are reviewing one candidate solution to a coding task. Read only.\n\n<task>\n{prompt_of()}\n</task>\n"
    assert json.loads(agent(path, base, scorer, "score/1/1", "--scorer-error", "0"))["score"] == 8
    assert json.loads(agent(path, base, scorer, "score/1/1", "--scorer-error", "1"))["score"] == 3
    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=path, check=True)
    agent(path, base, prompt_of(), "candidate/2", "--solve", "0")
    wrong = diff(path, base)
    assert json.loads(agent(path, base, scorer, "score/2/1", "--scorer-error", "0"))["score"] == 3

    def judged(a: str, b: str, error: str) -> str:
        text = (f"You are judging two candidate solutions to a coding task.\n\n<task>\n{prompt_of()}\n</task>\n\n"
                f"<candidate_a>\n{a}\n</candidate_a>\n\n<candidate_b>\n{b}\n</candidate_b>\n")
        return str(json.loads(agent(path, base, text, "judge/1", "--judge-error", error))["winner"])

    assert (judged(right, wrong, "0"), judged(wrong, right, "0"), judged(wrong, wrong, "0"), judged(right, wrong, "1")) == ("A", "B", "draw", "B")

    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=path, check=True)
    writer = (f"You are writing tests for a coding task. Another agent will solve the task.\n\n<task>\n{prompt_of()}\n</task>\n\n"
              "Write pytest tests ... Put them in `orchard_tests/writer_1/` (relative to the repository's root).")
    agent(path, base, writer, "tests/writer/1", "--writer-error", "0")
    written = sorted(p.name for p in (path / "orchard_tests" / "writer_1").iterdir())
    assert written == ["test_writer_1_1.py"]
    assert (path / "orchard_tests/writer_1/test_writer_1_1.py").read_text() == (TASKS / TASK / "hidden" / "test_hidden.py").read_text()
    subprocess.run(["git", "reset", "-q", "--hard", base], cwd=path, check=True)
    agent(path, base, writer, "tests/writer/1", "--writer-error", "1")  # a misleading test: it passes on the wrong fix alone
    assert "def test_the_fix" in (path / "orchard_tests/writer_1/test_writer_1.py").read_text()


def test_an_unknown_task_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no task of .* has this prompt"):
        agent(tmp_path, "HEAD", "Do something else.", "candidate/1")
