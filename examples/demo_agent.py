#!/usr/bin/env python3
"""A tiny deterministic coding agent for demos and tests (use it with `--plugin command`).

Asked to do a task, it writes `demo/<id>.md` (the id is a hash of the prompt, so each candidate's
edit differs and the same prompt always gives the same edit) and commits it; a task that says
"Write … `PATH`" or "Refine … `PATH`" gets PATH written (appended to) instead. Asked something
read-only ("Do not modify any files"), it changes nothing: asked to score (Orchard's scorer
prompt) it answers one JSON object whose score is derived from the candidate's diff; asked to
judge two candidates (best-of-n's tournament) it prefers one by its diff, whichever order they are
shown in; asked anything else (a review) it answers "No findings.". Asked to write tests (best-of-n's
test writers) it writes one pytest file in the folder named, whose test passes once `demo/` exists.

Knobs for tests, from the environment:
  DEMO_AGENT_SLEEP=S     sleep S seconds before working
  DEMO_AGENT_SLEEP_FIRST=S  sleep S seconds on an instance's first run only (counted in DEMO_AGENT_LOG)
  DEMO_AGENT_FAIL=MSG    print MSG to stderr and exit 1
  DEMO_AGENT_NOOP=1      change nothing
  DEMO_AGENT_LOG=FILE    append "<key>\\n" for every run (lets tests count agent runs)
  DEMO_AGENT_ANSWER=TEXT  answer TEXT to read-only requests (scores, reviews, bug reports)
  DEMO_AGENT_ONLY_KEY=REGEX  apply SLEEP, FAIL, NOOP and ANSWER only to instances whose key matches
  DEMO_AGENT_SECRET_ENV=NAME  write the sha256 of $NAME to demo/<id>.secret-digest and print $NAME
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time

WRITE_TARGET = re.compile(r"\b(?:Write|Refine)\b[^`\n]*`([^`\s]+)`")
TESTS_FOLDER = re.compile(r"Put them in `([^`\s]+)/`")
CANDIDATE = re.compile(r"<candidate_([ab])>\n(.*?)\n</candidate_\1>", re.S)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def answer(prompt: str, knobs) -> None:
    custom = knobs.get("DEMO_AGENT_ANSWER")
    if custom is not None:
        print(custom)
    elif '"score"' in prompt:
        score(prompt)
    elif '"winner"' in prompt:
        judge(prompt)
    else:
        print("No findings.")


def score(prompt: str) -> None:
    match = re.search(r"from ([0-9a-f]{40}) to HEAD", prompt)
    diff = git("diff", f"{match.group(1)}..HEAD") if match else ""
    value = int(hashlib.sha256(diff.encode()).hexdigest(), 16) % 11
    print(json.dumps({"score": value, "rationale": f"demo score from a {len(diff)}-byte diff"}))


def judge(prompt: str) -> None:
    diffs = dict(CANDIDATE.findall(prompt))
    a, b = (hashlib.sha256(diffs.get(x, "").encode()).hexdigest() for x in "ab")
    winner = "draw" if a == b else "A" if a < b else "B"
    print(json.dumps({"winner": winner, "rationale": "demo verdict: the diff with the smaller digest"}))


def write_tests(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "test_demo.py"), "w") as f:
        f.write("import os\n\n\ndef test_the_demo_folder_exists():\n    assert os.path.isdir('demo')\n")
    git("add", "-A")
    git("commit", "-q", "-m", f"demo: tests in {folder}")
    print(f"Wrote {folder}/test_demo.py and committed {git('rev-parse', '--short', 'HEAD')}.")


def work(prompt: str) -> None:
    ident = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    paths = WRITE_TARGET.findall(prompt) or [f"demo/{ident}.md"]
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else "(empty prompt)"
    for path in paths:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a") as f:
            f.write(f"# Demo change {ident}\n\n{prompt.strip()}\n")
    secret_env = os.environ.get("DEMO_AGENT_SECRET_ENV")
    if secret_env:
        value = os.environ.get(secret_env, "")
        os.makedirs("demo", exist_ok=True)
        with open(f"demo/{ident}.secret-digest", "w") as f:
            f.write(hashlib.sha256(value.encode()).hexdigest())
        print(f"the secret is {value}")
    git("add", "-A")
    git("commit", "-q", "-m", f"demo: {first_line[:60]}")
    print(f"Wrote {', '.join(paths)} and committed {git('rev-parse', '--short', 'HEAD')}.")


def main() -> int:
    prompt = os.environ.get("ORCHARD_PROMPT") or sys.stdin.read()
    key = os.environ.get("ORCHARD_KEY", "?")
    log = os.environ.get("DEMO_AGENT_LOG")
    earlier_runs = 0
    if log:
        with open(log, "a+") as f:
            f.seek(0)
            earlier_runs = f.read().splitlines().count(key)
            f.write(key + "\n")
    only = os.environ.get("DEMO_AGENT_ONLY_KEY")
    knobs = os.environ if not only or re.fullmatch(only, key) else {}
    time.sleep(float(knobs.get("DEMO_AGENT_SLEEP", "0")) + (0 if earlier_runs else float(knobs.get("DEMO_AGENT_SLEEP_FIRST", "0"))))
    if knobs.get("DEMO_AGENT_FAIL"):
        print(knobs["DEMO_AGENT_FAIL"], file=sys.stderr)
        return 1
    if "Do not modify any files" in prompt:
        answer(prompt, knobs)
    elif knobs.get("DEMO_AGENT_NOOP"):
        print("Nothing to change.")
    elif prompt.startswith("You are writing tests for a coding task.") and TESTS_FOLDER.search(prompt):
        write_tests(TESTS_FOLDER.search(prompt).group(1))  # type: ignore[union-attr]
    else:
        work(prompt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
