"""An evaluation's tasks: the shipped set and a user's folders read and checked before anything
runs (one line per problem), and each task's repository made from its files alone (never its
hidden check)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from client.errors import UsageError
from client.evals.methods import compare_param, parse_methods
from client.evals.tasks import load_tasks, make_repository
from tests.conftest import ROOT

SHIPPED = ROOT / "evals" / "tasks"


def task_folder(root: Path, name: str = "01-t", toml: str | None = 'check = "pytest -q"\n', prompt: str | None = "Fix it.\n",
                repo: dict[str, str] | None = None, setup: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if toml is not None:
        (folder / "task.toml").write_text(toml)
    if prompt is not None:
        (folder / "prompt.md").write_text(prompt)
    for path, text in (repo or ({} if setup else {"app.py": "x = 1\n"})).items():
        (folder / "repo" / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / "repo" / path).write_text(text)
    if setup is not None:
        (folder / "setup.sh").write_text(setup)
    return folder


def git_files(repo: Path) -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()


def test_the_shipped_set_has_twelve_tasks_whose_checks_no_agent_sees():
    tasks = load_tasks(SHIPPED)
    assert len(tasks) >= 12 and [t.name for t in tasks] == sorted(t.name for t in tasks)
    for t in tasks:
        assert t.check.strip() and t.hidden is not None and t.prompt
        hidden = {p.name for p in t.hidden.iterdir()}
        shown = {p.name for p in (t.folder / "repo").rglob("*")} if (t.folder / "repo").is_dir() else set()
        assert not hidden & shown and t.check not in t.prompt and "hidden" not in t.prompt
        assert (t.folder / "solution").is_dir() and (t.folder / "wrong").is_dir()  # what the simulated agents read
    assert sum((t.folder / "setup.sh").is_file() for t in tasks) >= 1  # a repository made by a script, too


def test_a_task_repository_holds_the_task_files_alone(tmp_path):
    (task,) = load_tasks(SHIPPED, ["01-slugify"])
    commit = make_repository(task, tmp_path / "repo")
    assert len(commit) == 40 and sorted(git_files(tmp_path / "repo")) == ["README.md", "textkit/slug.py"]
    (made,) = load_tasks(SHIPPED, ["12-fahrenheit"])  # made by its setup.sh
    make_repository(made, tmp_path / "made")
    assert sorted(git_files(tmp_path / "made")) == ["README.md", "units/temperature.py"]
    assert subprocess.run(["git", "branch", "--show-current"], cwd=tmp_path / "made", capture_output=True, text=True).stdout.strip() == "main"


def test_python_s_caches_in_a_task_s_repository_folder_are_not_committed(tmp_path):
    folder = task_folder(tmp_path, repo={"pkg/app.py": "x = 1\n", "pkg/__pycache__/app.cpython-311.pyc": "", "stray.pyc": ""})
    (task,) = load_tasks(folder)
    make_repository(task, tmp_path / "repo")
    assert git_files(tmp_path / "repo") == ["pkg/app.py"]


def test_one_task_folder_is_a_set_of_one(tmp_path):
    folder = task_folder(tmp_path)
    assert [t.name for t in load_tasks(folder)] == ["01-t"]


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"toml": None}, "01-t: no task.toml (it names the hidden check"),
    ({"toml": 'title = "x"\n'}, "task.toml: check: the hidden check command is missing"),
    ({"toml": 'check = ""\n'}, "check is empty"),
    ({"toml": "check = \n"}, "task.toml: "),
    ({"toml": 'check = "x"\nchekc = "y"\n'}, "task.toml: chekc: "),
    ({"prompt": None}, "no prompt: prompt.md is missing or empty"),
    ({"prompt": "  \n"}, "no prompt"),
    ({"setup": "true\n", "repo": {"a.py": ""}}, "give the repository as repo/ or as a setup.sh"),
])
def test_a_broken_task_is_one_line_naming_it(tmp_path, kwargs, said):
    task_folder(tmp_path, **kwargs)
    with pytest.raises(UsageError, match="^task .*01-t: ") as e:
        load_tasks(tmp_path)
    assert said in str(e.value) and "\n" not in str(e.value)


def test_missing_folders_and_unknown_tasks(tmp_path):
    with pytest.raises(UsageError, match="no such folder of tasks"):
        load_tasks(tmp_path / "nope")
    with pytest.raises(UsageError, match="no task folders in it"):
        load_tasks(tmp_path)
    task_folder(tmp_path)
    with pytest.raises(UsageError, match=r"--task 02-u: no such task in .* \(tasks: 01-t\)"):
        load_tasks(tmp_path, ["02-u"])


def test_a_failing_setup_script_says_so(tmp_path):
    (task,) = load_tasks(task_folder(tmp_path / "tasks", setup="echo broken >&2; exit 3\n"))
    with pytest.raises(UsageError, match=r"setup.sh failed \(broken\)"):
        make_repository(task, tmp_path / "repo")


def test_the_methods_compared_are_best_of_n_compare_specs():
    methods = parse_methods("score,tests,tournament,tests+tournament")
    assert methods == ["score", "tests", "tournament", "tests+tournament"] and compare_param(methods) == "score,tests,tournament,tests+tournament"
    for spec, said in [("score,judge", "unknown method 'judge'"), ("score,score", "a method is given twice"),
                       ("tournament+tests", "not a combination"), ("", "give one or more methods")]:
        with pytest.raises(UsageError, match=f"^-S select={re.escape(spec)}: .*{said}"):
            parse_methods(spec)
