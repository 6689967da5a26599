"""The simulated agents of `orchard eval` (`--plugin command --agent-command "python evals/simulated_agent.py evals/tasks"`):
the evaluation's own stand-in for a model, so that it runs without one and its figures are known.

It is not a model and does not reason about code: it knows the answers and compares with them. It finds which task it is given
by the task's prompt (in TASKS_DIR, the folder the harness names on its command line) and reads
that task's reference fix (solution/), a plausible wrong fix (wrong/) and hidden tests (hidden/).
It recognises its role from the prompt's first line (best-of-n's prompts, contract-28):

- a candidate (the task's prompt): the reference fix with probability --solve, else the wrong fix,
  committed; which one is drawn from --seed, the task and the candidate's number (ORCHARD_KEY
  `candidate/N`), so a run is repeatable;
- a scorer: 8/10 for a reference fix, 3/10 for another, swapped with probability --scorer-error;
- a judge: the candidate whose diff has the reference fix's lines wins, the other with probability
  --judge-error; a draw when both or neither have them;
- a test writer: the task's hidden tests, or with probability --writer-error a misleading test that
  passes on the wrong fix only;
- a synthesizer: changes nothing.

Every draw is a hash of (seed, task, role, ORCHARD_KEY): the same agent run again answers the same.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SCORER = "You are reviewing one candidate solution to a coding task."
JUDGE = "You are judging two candidate solutions to a coding task."
WRITER = "You are writing tests for a coding task."
SYNTHESIZER = "You are combining candidate solutions to a coding task."
GOOD_SCORE, BAD_SCORE = 8, 3


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def draw(seed: str, *parts: str) -> float:
    """A number in [0, 1) fixed by its parts."""
    digest = hashlib.sha256("/".join((seed, *parts)).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def find_task(tasks: Path, prompt: str) -> Path:
    found = [t for t in sorted(tasks.iterdir()) if (t / "prompt.md").is_file() and (t / "prompt.md").read_text().strip() in prompt]
    if not found:
        sys.exit(f"simulated agent: no task of {tasks} has this prompt")
    return max(found, key=lambda t: len((t / "prompt.md").read_text()))


def overlay(folder: Path) -> dict[str, str]:
    """The files a fix writes, by path from the repository's root."""
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def base_text(path: str) -> str:
    """The file at the run's base commit (empty when it is new)."""
    try:
        return git("show", f"{os.environ.get('ORCHARD_BASE_COMMIT', 'HEAD')}:{path}")
    except subprocess.CalledProcessError:
        return ""


def added_lines(files: dict[str, str]) -> set[str]:
    """The lines a fix adds to the base, stripped: what shows it in a diff."""
    lines = set()
    for path, text in files.items():
        diff = difflib.ndiff(base_text(path).splitlines(), text.splitlines())
        lines |= {line[2:].strip() for line in diff if line.startswith("+ ") and line[2:].strip()}
    return lines


def candidate(task: Path, args: argparse.Namespace, key: str) -> int:
    number = re.search(r"candidate/(\d+)", key)
    solves = draw(args.seed, task.name, "candidate", number[1] if number else key) < args.solve
    for path, text in overlay(task / ("solution" if solves else "wrong")).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", f"Fix: {task.name}")
    print(f"Changed {', '.join(overlay(task / 'solution'))}.")
    return 0


def score(task: Path, args: argparse.Namespace, key: str) -> int:
    right = all(Path(p).is_file() and Path(p).read_text() == text for p, text in overlay(task / "solution").items())
    if draw(args.seed, task.name, "scorer", key) < args.scorer_error:
        right = not right
    print(json.dumps({"score": GOOD_SCORE if right else BAD_SCORE, "rationale": "does what the task asks" if right else "misses part of the task"}))
    return 0


def judge(task: Path, args: argparse.Namespace, key: str, prompt: str) -> int:
    wanted = added_lines(overlay(task / "solution"))

    def right(side: str) -> bool:
        block = re.search(rf"<candidate_{side}>\n?(.*?)</candidate_{side}>", prompt, re.DOTALL)
        added = {line[1:].strip() for line in (block[1] if block else "").splitlines() if line.startswith("+") and not line.startswith("+++")}
        return wanted <= added

    a, b = right("a"), right("b")
    winner = "draw" if a == b else ("A" if a else "B")
    if winner != "draw" and draw(args.seed, task.name, "judge", key) < args.judge_error:
        winner = "B" if winner == "A" else "A"
    print(json.dumps({"winner": winner, "rationale": "compared the two diffs against the task"}))
    return 0


def write_tests(task: Path, args: argparse.Namespace, key: str, prompt: str) -> int:
    where = re.search(r"Put them in `([^`]+?)/?`", prompt)
    if where is None:
        sys.exit("simulated agent: the test writer's prompt names no folder")
    folder = Path(where[1])
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"\W", "_", folder.name)
    if draw(args.seed, task.name, "writer", key) < args.writer_error:
        wrong = overlay(task / "wrong")
        checks = "\n".join(f"    assert Path({p!r}).read_text() == {t!r}" for p, t in wrong.items())
        (folder / f"test_{name}.py").write_text(f"from pathlib import Path\n\n\ndef test_the_fix():\n{checks}\n")
    else:
        for i, test in enumerate(sorted((task / "hidden").glob("*.py")), 1):
            shutil.copyfile(test, folder / f"test_{name}_{i}.py")
    git("add", "-A")
    git("commit", "-q", "-m", f"Tests for {task.name}")
    print(f"Wrote tests in {folder}/.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", type=Path, help="the tasks' folder (the reference fixes are read from it)")
    parser.add_argument("--solve", type=float, default=0.4, help="probability that a candidate makes the reference fix")
    parser.add_argument("--scorer-error", type=float, default=0.25)
    parser.add_argument("--judge-error", type=float, default=0.15)
    parser.add_argument("--writer-error", type=float, default=0.2)
    parser.add_argument("--seed", default="0")
    args = parser.parse_args()
    prompt = sys.stdin.read() or os.environ.get("ORCHARD_PROMPT", "")
    task = find_task(args.tasks, prompt)
    key = os.environ.get("ORCHARD_KEY", "")
    first = prompt.lstrip().splitlines()[0] if prompt.strip() else ""
    if first.startswith(SCORER):
        return score(task, args, key)
    if first.startswith(JUDGE):
        return judge(task, args, key, prompt)
    if first.startswith(WRITER):
        return write_tests(task, args, key, prompt)
    if first.startswith(SYNTHESIZER):
        print("Nothing to combine.")
        return 0
    return candidate(task, args, key)


if __name__ == "__main__":
    sys.exit(main())
