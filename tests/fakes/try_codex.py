"""Drive the real Codex CLI against the fake Responses API, by hand or to re-record fixtures.

    python tests/fakes/try_codex.py                       # write + commit hello.txt, print what happened
    python tests/fakes/try_codex.py --fail                # a scripted HTTP 400: turn.failed, exit 1
    python tests/fakes/try_codex.py --resume              # then `codex exec resume <thread>` one more turn
    python tests/fakes/try_codex.py --record tests/fixtures/codex   # rewrite exec.jsonl / exec_error.jsonl

Needs `codex` on PATH (`npm install -g @openai/codex`; checked with 0.169.0). Nothing leaves
127.0.0.1: the provider points at the fake, and the config turns off the features that would
otherwise look up github.com / chatgpt.com (plugin sync, analytics).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests.fakes` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, ScriptEntry, Turn, Usage, failing_script, write_and_commit_script

API_KEY_ENV = "ORCHARD_FAKE_OPENAI_KEY"
API_KEY = "sk-orchard-fake-0123456789"
DEFAULT_MODEL = "gpt-5.5"  # in the CLI's bundled catalogue, so it offers apply_patch and warns of nothing
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Fake Codex", "GIT_AUTHOR_EMAIL": "codex@example.invalid", "GIT_COMMITTER_NAME": "Fake Codex",
                "GIT_COMMITTER_EMAIL": "codex@example.invalid"}


def codex_config(base_url: str, env_key: str = API_KEY_ENV) -> str:
    """A `$CODEX_HOME/config.toml` that sends every model call to `base_url` and nothing elsewhere."""
    return f"""\
model_provider = "fake"
# The CLI's own update check; off so a run never depends on the network.
check_for_update_on_startup = false

[analytics]
# On by default: resolves ab.chatgpt.com.
enabled = false

[features]
# On by default: syncs the plugin marketplace (github.com, api.github.com, chatgpt.com).
plugins = false
# On by default: with the fake gone the CLI would retry "waiting for network" forever;
# off, it gives up after 5 reconnects (~25 s) with turn.failed.
unbounded_connection_retries = false

[model_providers.fake]
name = "Fake OpenAI"
base_url = "{base_url}"
wire_api = "responses"
# The CLI sends this variable's value as `Authorization: Bearer ...`.
env_key = "{env_key}"
# The CLI retries 429/5xx answers itself (with a generic "high demand" message); none here,
# so a scripted server error fails the run at once.
request_max_retries = 0
stream_max_retries = 0
"""


def codex_command(workspace: Path, prompt: str, model: str = DEFAULT_MODEL, resume: str | None = None) -> list[str]:
    """`codex exec --json`: the options go before `resume` (it does not take -C / --json itself)."""
    command = [
        "codex", "exec", "--json",
        # No sandbox: workspace-write mounts .git read-only (so `git commit` fails) and
        # read-only (the default) rejects apply_patch. Orchard isolates workspaces itself.
        "--dangerously-bypass-approvals-and-sandbox",
        "--skip-git-repo-check",  # otherwise a non-git directory exits 1 before any event
        "-m", model,
        "-C", str(workspace),
    ]  # fmt: skip
    if resume is not None:
        command += ["resume", resume]
    return [*command, prompt]


def codex_env(codex_home: Path, api_key: str = API_KEY) -> dict[str, str]:
    return {**os.environ, **GIT_IDENTITY, "CODEX_HOME": str(codex_home), API_KEY_ENV: api_key}


@dataclass
class CodexRun:
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def thread_id(self) -> str | None:
        return next((e["thread_id"] for e in self.events if e.get("type") == "thread.started"), None)


def run_codex(fake: FakeOpenAI, workspace: Path, codex_home: Path, prompt: str, *, model: str = DEFAULT_MODEL, resume: str | None = None,
              timeout: float = 120) -> CodexRun:
    (codex_home / "config.toml").write_text(codex_config(fake.base_url))
    seen = len(fake.requests)
    started = time.monotonic()
    # stdin must not be an open pipe: `codex exec` reads stdin to EOF (to append it to the prompt)
    # and would wait forever.
    proc = subprocess.run(codex_command(workspace, prompt, model, resume), stdin=subprocess.DEVNULL, capture_output=True, text=True, env=codex_env(codex_home),
                          timeout=timeout, check=False)
    return CodexRun(proc.returncode, time.monotonic() - started, proc.stdout, proc.stderr, fake.requests[seen:])


def make_workspace(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=path, check=True, env={**os.environ, **GIT_IDENTITY})
    return path


def git_log(workspace: Path) -> str:
    return subprocess.run(["git", "log", "--oneline", "--stat"], cwd=workspace, capture_output=True, text=True, check=False).stdout.strip()


def report(title: str, run: CodexRun, workspace: Path, target: str | None) -> None:
    print(f"== {title}: exit {run.returncode} in {run.seconds:.2f}s, thread {run.thread_id}")
    if target is not None:
        written = (workspace / target).exists()
        committed = bool(subprocess.run(["git", "log", "--oneline", "--", target], cwd=workspace, capture_output=True, text=True, check=True).stdout.strip())
        print(f"{target}: written={written} committed={committed}")
    print(git_log(workspace))
    print("-- endpoints called:", [f"{r.method} {r.path}" for r in run.requests])
    for r in run.requests:
        body = r.json if isinstance(r.json, dict) else {}
        if "input" not in body:
            continue
        print(f"   model={body.get('model')} bearer={r.bearer_token} tools={r.tool_names} input_items={len(body.get('input', []))}")
    print("-- events:")
    for event in run.events:
        print("  ", json.dumps(event))
    noise = [line for line in run.stderr.splitlines() if line.strip()]
    if noise:
        print("-- stderr:", *noise, sep="\n   ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--via", choices=["apply_patch", "shell"], default="apply_patch", help="how turn 1 writes the file")
    parser.add_argument("--fail", action="store_true", help="script an HTTP 400 on the first model call")
    parser.add_argument("--resume", action="store_true", help="resume the thread for one more turn afterwards")
    parser.add_argument("--record", type=Path, metavar="DIR", help="write DIR/exec.jsonl and DIR/exec_error.jsonl from real runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if shutil.which("codex") is None:
        print("codex is not on PATH: npm install -g @openai/codex", file=sys.stderr)
        return 2
    print(subprocess.run(["codex", "--version"], capture_output=True, text=True, check=True).stdout.strip())

    scratch = Path(tempfile.mkdtemp(prefix="try-codex-"))
    try:
        if args.record:
            return record(scratch, args.record, args.model)
        script: list[ScriptEntry] = failing_script() if args.fail else write_and_commit_script(via=args.via)
        if args.resume:
            script.append(Turn(text="Resumed: nothing left to do.", usage=Usage(2000, 8, cached_input_tokens=1500)))
        workspace, home = make_workspace(scratch / "ws"), scratch / "codex-home"
        home.mkdir()
        with FakeOpenAI(script) as fake:
            run = run_codex(fake, workspace, home, "Write hello.txt and commit it.", model=args.model)
            report("codex exec", run, workspace, None if args.fail else "hello.txt")
            if args.resume and run.thread_id:
                again = run_codex(fake, workspace, home, "Anything left?", model=args.model, resume=run.thread_id)
                report(f"codex exec resume {run.thread_id}", again, workspace, None)
                for r in again.requests:
                    print(f"   resumed request: session-id={r.headers.get('session-id')} input types={[i.get('type') for i in r.json.get('input', [])]}")
        return 0 if run.returncode == 0 or args.fail else 1
    finally:
        if args.keep:
            print("kept", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def record(scratch: Path, out: Path, model: str) -> int:
    """Re-record the fixtures: the CLI's stdout, byte for byte, for one good and one failed run."""
    out.mkdir(parents=True, exist_ok=True)
    for name, script, want in (("exec.jsonl", write_and_commit_script(), 0), ("exec_error.jsonl", failing_script(), 1)):
        workspace, home = make_workspace(scratch / Path(name).stem / "ws"), scratch / Path(name).stem / "codex-home"
        home.mkdir()
        with FakeOpenAI(script) as fake:
            run = run_codex(fake, workspace, home, "Write hello.txt and commit it.", model=model)
        if run.returncode != want:
            print(f"{name}: expected exit {want}, got {run.returncode}\n{run.stdout}\n{run.stderr}", file=sys.stderr)
            return 1
        (out / name).write_text(run.stdout)
        print(f"wrote {out / name}: {len(run.events)} events, exit {run.returncode}, {run.seconds:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
