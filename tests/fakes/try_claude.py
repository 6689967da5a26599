"""Run the real Claude Code CLI against FakeAnthropic in a fresh git repository and report.

    python tests/fakes/try_claude.py                 # write-and-commit script
    python tests/fakes/try_claude.py --error         # a run that fails on its first model call
    python tests/fakes/try_claude.py --save-stream tests/fixtures/claude/stream.jsonl
    python tests/fakes/try_claude.py --dump-requests /tmp/requests.json

Prints whether the file was written and committed (git log), the CLI's exit code, wall time and
the `result` line. Exit status 0 when the run did what the script says (or, with --error, failed
as scripted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.anthropic_server import FakeAnthropic, error_script, write_and_commit_script

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY}).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--error", action="store_true", help="script a failing run instead")
    parser.add_argument("--model", default="claude-sonnet-4-5")
    parser.add_argument("--claude", default=shutil.which("claude") or "claude", help="path of the CLI")
    parser.add_argument("--save-stream", type=Path, help="write the CLI's stdout here")
    parser.add_argument("--dump-requests", type=Path, help="write the recorded requests here as JSON")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="try-claude-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("# sample\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "initial")
        # A private HOME: the CLI writes ~/.claude.json and ~/.claude/projects/<cwd>/<session>.jsonl.
        home = Path(tmp) / "home"
        home.mkdir()

        script = error_script() if args.error else write_and_commit_script("hello.txt", "hello from the fake model\n", "Add hello.txt")
        with FakeAnthropic(script, workspace=str(repo)) as fake:
            env = {**os.environ, **GIT_IDENTITY, **fake.env(), "HOME": str(home)}
            argv = [args.claude, "--print", "--verbose", "--output-format", "stream-json", "--dangerously-skip-permissions",
                    "--model", args.model, "Create hello.txt and commit it"]  # fmt: skip
            started = time.monotonic()
            # stdin must not be a terminal or an open pipe: --print reads it as extra prompt input.
            proc = subprocess.run(argv, check=False, cwd=repo, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=args.timeout)
            elapsed = time.monotonic() - started

        if args.save_stream:
            args.save_stream.parent.mkdir(parents=True, exist_ok=True)
            args.save_stream.write_text(proc.stdout)
        if args.dump_requests:
            args.dump_requests.write_text(json.dumps([r.__dict__ for r in fake.requests], indent=1, default=str))

        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        result = next((line for line in reversed(lines) if line.get("type") == "result"), None)
        written = (repo / "hello.txt").is_file()
        log = git(repo, "log", "--oneline")
        committed = "hello.txt" in git(repo, "show", "--name-only", "--format=", "HEAD")

        print(f"exit code: {proc.returncode}   wall time: {elapsed:.2f}s")
        print(f"requests: {[(r.method, r.path, r.kind, r.turn_index) for r in fake.requests]}")
        print(f"turns served: {fake.turns_served}/{len(script)}   exhausted: {fake.exhausted}")
        print(f"file written: {written}   committed: {committed}")
        print("git log:\n  " + log.replace("\n", "\n  "))
        print("result line: " + (json.dumps(result) if result else "(none)"))
        if proc.stderr.strip():
            print("stderr:\n" + proc.stderr.strip()[-2000:])

        if args.error:
            return 0 if result and result.get("is_error") and not written else 1
        return 0 if proc.returncode == 0 and written and committed and result and not result.get("is_error") else 1


if __name__ == "__main__":
    sys.exit(main())
