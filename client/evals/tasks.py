"""The tasks of an evaluation: one folder each, read here and checked before anything runs.

A task folder holds `task.toml` (`check`: the hidden check command, required; `title`: optional),
`prompt.md` (what the agents are asked), the repository state as a `repo/` folder or a `setup.sh`
that makes it in an empty folder, and `hidden/` (optional): files the check uses, copied next to
the candidate's code only when the check runs. Nothing of `task.toml` or `hidden/` reaches an
agent: the repository the agents work on is made from `repo/` (or `setup.sh`) alone.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError

from client.errors import UsageError

TASK_FILE = "task.toml"
PROMPT_FILE = "prompt.md"
REPO_DIR = "repo"
SETUP_SCRIPT = "setup.sh"
HIDDEN_DIR = "hidden"
BASE_BRANCH = "main"
SETUP_TIMEOUT = 120.0


class TaskFile(BaseModel, extra="forbid"):
    """task.toml."""

    check: str
    title: str = ""


class EvalTask(BaseModel):
    name: str
    """The folder's name (tasks run in the order of their names)."""
    folder: Path
    title: str
    prompt: str
    check: str
    """The hidden check: a shell command run at the root of a fresh checkout of a candidate."""

    @property
    def hidden(self) -> Path | None:
        path = self.folder / HIDDEN_DIR
        return path if path.is_dir() else None


def load_tasks(root: Path, only: list[str] | None = None) -> list[EvalTask]:
    """The tasks under `root` (a folder of task folders, or one task folder), in name order;
    `only`: these names. Every problem is a UsageError naming the task and what is wrong."""
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder of tasks")
    folders = [root] if (root / TASK_FILE).is_file() else sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if only:
        unknown = sorted(set(only) - {f.name for f in folders})
        if unknown:
            raise UsageError(f"--task {', '.join(unknown)}: no such task in {root} (tasks: {', '.join(f.name for f in folders) or 'none'})")
        folders = [f for f in folders if f.name in only]
    if not folders:
        raise UsageError(f"{root}: no task folders in it (each holds {TASK_FILE}, {PROMPT_FILE} and {REPO_DIR}/ or {SETUP_SCRIPT})")
    return [load_task(f) for f in folders]


def load_task(folder: Path) -> EvalTask:
    def bad(problem: str) -> UsageError:
        return UsageError(f"task {folder}: {problem}")

    if not (folder / TASK_FILE).is_file():
        raise bad(f"no {TASK_FILE} (it names the hidden check: check = \"COMMAND\")")
    try:
        spec = TaskFile.model_validate(tomllib.loads((folder / TASK_FILE).read_text()))
    except tomllib.TOMLDecodeError as e:
        raise bad(f"{TASK_FILE}: {e}") from None
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        said = "the hidden check command is missing (check = \"COMMAND\")" if where == "check" and error["type"] == "missing" else error["msg"]
        raise bad(f"{TASK_FILE}: {where}: {said}") from None
    if not spec.check.strip():
        raise bad(f"{TASK_FILE}: check is empty; give the hidden check command")
    prompt_file = folder / PROMPT_FILE
    prompt = prompt_file.read_text().strip() if prompt_file.is_file() else ""
    if not prompt:
        raise bad(f"no prompt: {PROMPT_FILE} is missing or empty")
    has_repo, has_setup = (folder / REPO_DIR).is_dir(), (folder / SETUP_SCRIPT).is_file()
    if has_repo == has_setup:
        raise bad(f"give the repository as {REPO_DIR}/ or as a {SETUP_SCRIPT} that makes it, one of the two")
    return EvalTask(name=folder.name, folder=folder.resolve(), title=spec.title or folder.name, prompt=prompt, check=spec.check)


PYTHON_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")


def make_repository(task: EvalTask, dest: Path) -> str:
    """The task's repository at `dest` (a new folder): its files committed on `main`; returns the commit."""
    dest.mkdir(parents=True)
    if (task.folder / REPO_DIR).is_dir():
        shutil.copytree(task.folder / REPO_DIR, dest, dirs_exist_ok=True, ignore=PYTHON_CACHES)  # left by whoever ran the task's code in place
    else:
        done = subprocess.run(["bash", str(task.folder / SETUP_SCRIPT)], cwd=dest, capture_output=True, text=True, timeout=SETUP_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise UsageError(f"task {task.folder}: {SETUP_SCRIPT} failed ({said})")
    for args in (["init", "-q", "-b", BASE_BRANCH], ["add", "-A"],
                 ["-c", "user.name=orchard eval", "-c", "user.email=eval@orchard.invalid", "commit", "-q", "--allow-empty", "-m", f"task {task.name}"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, check=True, capture_output=True, text=True).stdout.strip()
