"""The coding agent of the bugfix example's end-to-end test (`--agent-command "python bugfix_agent.py DIR"`).

It answers the two agent prompts of examples/runbooks as a person's agent would, and logs what it
did in DIR:
- "Fix bug N: ..." writes fixes/N.txt and commits it. Bug 2's first fix is broken (`make test`
  fails on it), so its pipeline loops back from verify; the second visit's prompt says the tests
  still fail, and it fixes it. Bug 3 also rewrites NOTES.md, after it has said `waiting 3` in
  DIR/log and DIR/go exists: the test moves main meanwhile, so bug 3's merge conflicts.
- "Rebasing ... stops on conflicts" rebases onto origin's main, and resolves (both sides' lines,
  theirs first) and pushes only when DIR/allow exists; otherwise it gives up (exit 1).
Every run appends "start WHAT t" and "end WHAT t" to DIR/spans (WHAT: `fix-N` or `resolve`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], check=check, capture_output=True, text=True)


def fix(bug: int, prompt: str, log: Path, folder: Path) -> int:
    still_failing = "still fails" in prompt
    Path("fixes").mkdir(exist_ok=True)
    Path(f"fixes/{bug}.txt").write_text(f"broken {bug}\n" if bug == 2 and not still_failing else f"fixed {bug}\n")
    if bug == 3:
        with log.open("a") as f:
            f.write("waiting 3\n")
        while not (folder / "go").exists():
            time.sleep(0.05)
        Path("NOTES.md").write_text("notes: bug 3 fixed\n")
    git("add", "-A")
    git("commit", "-q", "-m", f"Fix bug {bug}" + (" again" if still_failing else ""))
    return 0


def resolve(folder: Path) -> int:
    git("fetch", "-q", "origin", "main")
    if git("rebase", "FETCH_HEAD", check=False).returncode == 0:
        print("no conflict to resolve")
    elif not (folder / "allow").exists():
        git("rebase", "--abort", check=False)
        print("cannot resolve the conflict in NOTES.md", file=sys.stderr)
        return 1
    else:
        theirs = git("show", "FETCH_HEAD:NOTES.md").stdout
        Path("NOTES.md").write_text(theirs + "notes: bug 3 fixed\n")
        git("add", "NOTES.md")
        subprocess.run(["git", "rebase", "--continue"], check=True, env={**os.environ, "GIT_EDITOR": "true"}, capture_output=True)
    subprocess.run(["make", "test"], check=True)
    git("push", "-q", "origin", "HEAD:main")
    return 0


def main() -> int:
    folder = Path(sys.argv[1])
    prompt = os.environ["ORCHARD_PROMPT"]
    fixing = re.search(r"Fix bug (\d+):", prompt)
    what = f"fix-{fixing[1]}" if fixing else "resolve"
    with (folder / "spans").open("a") as f:
        f.write(f"start {what} {time.time()}\n")
    code = fix(int(fixing[1]), prompt, folder / "log", folder) if fixing else resolve(folder)
    with (folder / "spans").open("a") as f:
        f.write(f"end {what} {time.time()}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
