"""The real Claude Code and Codex CLIs, run by Orchard's workflows against fake model servers on
127.0.0.1: the CLI itself writes the file and commits it, as a local process and in a container
(network none, the model API relayed in: `network_egress=proxy`). Skipped where a CLI or Docker is
missing, except in CI (ORCHARD_REQUIRE_AGENT_CLIS=1, ORCHARD_REQUIRE_DOCKER=1), where that fails."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable

import pytest
from temporalio.client import WorkflowFailureError

from activities.heartbeat import HEARTBEAT_EVERY
from activities.instance import RESUME_PROMPT
from activities.paths import agent_home_dir, workspaces_dir
from activities.runners.local import RunningRecord
from tests.conftest import (
    containers_of,
    final_result,
    git,
    orchard,
    orchard_branches,
    orchard_env,
    pid_in,
    require_docker,
    require_sandbox,
    run_strategy,
    stop_embedded,
    write_dev_config,
)
from tests.fakes import openai_server as oai
from tests.fakes.anthropic_server import FakeAnthropic, ToolUse, Turn, Usage, error_script, write_and_commit_script
from workflows.sdk.models import RunInput, RunResult, TaskDefaults
from workflows.strategies.read_only_agent import JSON_REQUEST

pytestmark = pytest.mark.slow

INSTALL = {"claude": "npm install -g @anthropic-ai/claude-code", "codex": "npm install -g @openai/codex"}


def require_cli(name: str) -> None:
    if shutil.which(name):
        return
    message = f"the `{name}` CLI is not installed ({INSTALL[name]})"
    if os.environ.get("ORCHARD_REQUIRE_AGENT_CLIS"):
        pytest.fail(message + "; CI requires it")
    pytest.skip(message)


@pytest.fixture(params=["local", "sandbox", "docker"])
def runner(request) -> dict[str, str]:
    """Task settings for the runner under test; in a sandbox or Docker the agent's only way out is the relay."""
    if request.param == "docker":
        require_docker()
        return {"runner": "docker", "network_egress": "proxy"}
    if request.param == "sandbox":
        require_sandbox()
        return {"runner": "sandbox", "network_egress": "proxy"}
    return {"runner": "local"}


CLAUDE_SLEEPER, CODEX_SLEEPER, THINKER = (f"sleep {seconds}.{uuid.uuid4().int % 10**6:06d}" for seconds in (61, 62, 25))
"""The tools the fake models have the agents run: unique to this test run, so another run's on the
same machine is never taken for ours (nor killed by a test's check)."""


def no_sleeper_left(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1


async def seen_running(marker: str, run: Awaitable[RunResult]) -> RunResult:
    """The run's result, once `marker`'s process was seen running while the run went on: a
    timeout that kills the tool must have had a tool to kill."""
    task = asyncio.ensure_future(run)
    seen = False
    while not task.done() and not seen:
        seen = not no_sleeper_left(marker)
        await asyncio.sleep(0.05)
    result = await task
    assert seen, f"`{marker}` never ran before the run ended"
    return result


def claude_conversation(text: str):
    """Scorers answer a score; a prompt saying FAIL gets an API error; others write and commit."""
    if JSON_REQUEST in text:
        return [Turn(text='{"score": 8, "rationale": "fake review"}', usage=Usage(input_tokens=500, output_tokens=12))]
    if "FAIL" in text or "robustness" in text:
        return error_script(message="fake model refuses")
    if "SLOW" in text:
        return [Turn(tool_uses=[ToolUse("Bash", {"command": CLAUDE_SLEEPER, "description": "wait"})])]
    name = f"notes/{hashlib.sha256(text.encode()).hexdigest()[:8]}.md"
    return write_and_commit_script(name, f"# {name}\n", f"Add {name}")


@pytest.fixture
def fake_claude(monkeypatch, tmp_path):
    require_cli("claude")
    with FakeAnthropic(conversations=claude_conversation) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))  # the CLI keeps sessions under ~/.claude
        yield fake


async def test_claude_code_best_of_n_makes_two_branches_with_tokens_and_cost(client, task_queue, repo, fake_claude, runner):
    result = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 2, "diversity_hints": False}, agent="", plugin="claude-code",
                                model="claude-sonnet-4-5", **runner)
    assert result.status == "success", [c.error for c in result.instances]
    assert len(orchard_branches(repo)) == 2
    for candidate in result.instances:
        log = git(repo, "log", "--format=%s", f"main..{candidate.branch_name}")
        assert log.startswith("Add notes/")  # the CLI's own Bash tool committed
        note = log.removeprefix("Add ")
        assert git(repo, "show", f"{candidate.branch_name}:{note}") == f"# {note}"  # and wrote what the model asked
        assert candidate.input_tokens == 3900 and candidate.output_tokens == 115
        assert candidate.cost_usd > 0 and candidate.session_id
        assert candidate.final_message == "Wrote and committed the file."
        assert candidate.metrics["score"] == 8 and candidate.runner == runner["runner"]
    assert result.input_tokens == 2 * 3900 + 2 * 500 and result.cost_usd > 0
    main = fake_claude.main_requests
    assert {r.body["model"] for r in main} == {"claude-sonnet-4-5"}
    assert {r.api_key for r in main} == {os.environ["ANTHROPIC_API_KEY"]}


async def test_claude_code_error_fails_one_instance_with_its_reason(client, task_queue, repo, fake_claude, runner):
    result = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 2}, agent="", plugin="claude-code", **runner)
    assert result.status == "partial"
    failed = next(c for c in result.instances if not c.success)
    assert failed.error_type == "agent" and "fake model refuses" in failed.error
    assert len(orchard_branches(repo)) == 1


async def test_claude_code_timeout_kills_the_agent_and_its_tools(client, task_queue, repo, fake_claude, runner):
    run_id = f"run_timeout_{uuid.uuid4().hex[:6]}"
    result = await seen_running(CLAUDE_SLEEPER,
                                run_strategy(client, task_queue, "simple", repo, prompt="SLOW task", agent="", plugin="claude-code", timeout=8, run_id=run_id,
                                             **runner))
    (only,) = result.instances
    assert only.status == "timeout" and "timed out after 8s" in only.error
    assert no_sleeper_left(CLAUDE_SLEEPER)
    if runner["runner"] == "docker":
        assert only.runner == "docker" and containers_of(run_id) == []


async def test_claude_codes_cost_is_live_while_it_runs_an_estimate_marked_as_one(client, task_queue, repo, fake_claude):
    """The live view's cost of a running Claude Code agent: priced from its tokens so far (the
    CLI says its own only at its end), shown `~$…`, not "-"."""
    import io

    from rich.console import Console

    from client.render import TuiRenderer
    from client.snapshots import snapshot

    defaults = TaskDefaults(plugin="claude-code", model="claude-sonnet-4-5", runner="local", timeout=8)
    handle = await client.start_workflow("simple", RunInput(prompt="SLOW task", repo=str(repo), base_branch="main", defaults=defaults),
                                         id=f"run_live_{uuid.uuid4().hex[:6]}", task_queue=task_queue, result_type=RunResult)
    for _ in range(100):  # the heartbeat after the model's first answer (every HEARTBEAT_EVERY seconds)
        snap = await snapshot(client, handle)
        if snap.heartbeats.get("simple", {}).get("input_tokens"):
            break
        await asyncio.sleep(0.1)
    beat = snap.heartbeats["simple"]
    assert (beat["input_tokens"], beat["output_tokens"]) == (100, 1)  # the fake's first answer, as the stream gives it
    assert beat["cost_usd"] == 0.000315 and beat["cost_estimated"]  # 100 in at $3, 1 out at $15 per million
    out = io.StringIO()
    tui = TuiRenderer(Console(file=out, force_terminal=True, width=100, color_system=None), "simple run", None)
    tui.update(snap)
    tui.close()
    screen = out.getvalue().split("\x1b[?25h")[-1]
    assert "~$0.0003" in screen and "cost $0.0003 (estimated)" in screen
    (only,) = (await final_result(handle)).instances  # the tool sleeps past the timeout: a failed run
    assert only.status == "timeout"


async def cancel_during_a_tool(client, task_queue, repo, marker: str, defaults: TaskDefaults) -> None:
    """Cancel a run while the agent's tool (`marker`) runs; nothing of the instance may be left."""
    run_id = f"run_cancel_{uuid.uuid4().hex[:6]}"
    run_input = RunInput(prompt="SLOW task", repo=str(repo), base_branch="main", defaults=defaults)
    handle = await client.start_workflow("simple", run_input, id=run_id, task_queue=task_queue, result_type=RunResult)
    for _ in range(300):
        if not no_sleeper_left(marker):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the agent never ran its tool")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert no_sleeper_left(marker)
    assert not workspaces_dir(run_id).exists() and not agent_home_dir(run_id, "x").parent.exists()
    if defaults.runner == "docker":
        assert containers_of(run_id) == []


async def test_cancel_leaves_no_claude_process_container_or_workspace(client, task_queue, repo, fake_claude, runner):
    await cancel_during_a_tool(client, task_queue, repo, CLAUDE_SLEEPER, TaskDefaults(plugin="claude-code", **runner))


@pytest.mark.parametrize(
    "credential, runner_args",
    [("--api-key", ["--runner", "local"]), ("--oauth-token", ["--runner", "docker", "--network-egress", "proxy"]),
     ("--api-key", ["--runner", "sandbox", "--network-egress", "proxy"])],
)
def test_orchard_run_with_claude_code_credentials_for_the_embedded_worker(tmp_path, repo, credential, runner_args):
    require_cli("claude")
    if "docker" in runner_args:
        require_docker()
    if "sandbox" in runner_args:
        require_sandbox()
    home = tmp_path / "home"
    write_dev_config(home)
    canary = ("sk-ant-canary-" if credential == "--api-key" else "sk-ant-oat01-canary-") + uuid.uuid4().hex
    env = orchard_env(home, HOME=str(tmp_path / "agent-home"), CLAUDE_CODE_MAX_RETRIES="1")
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN"):
        env.pop(name, None)
    try:
        with FakeAnthropic(conversations=claude_conversation) as fake:
            ran = orchard(
                "run", "write notes", "--plugin", "claude-code", "--model", "claude-sonnet-4-5", "--strategy", "best-of-n",
                "-S", "n=2", "-S", "diversity_hints=false", credential, canary, "--base-url", fake.base_url, *runner_args,
                "--output", "json", env=env, cwd=repo, timeout=180,
            )
            assert ran.returncode == 0, ran.stderr
            assert {r.api_key for r in fake.main_requests} == {canary}
            if credential == "--oauth-token":  # a subscription token travels as a bearer token
                assert {r.headers.get("authorization") for r in fake.main_requests} == {f"Bearer {canary}"}
        result = json.loads(ran.stdout.strip().splitlines()[-1])
        assert len(result["instances"]) == 2 and result["input_tokens"] == 2 * 3900 + 2 * 500 and result["cost_usd"] > 0
        assert {i["metadata"]["runner"] for i in result["instances"]} == {runner_args[1]}
        assert len(orchard_branches(repo)) == 2
        history = orchard("history", result["run_id"], env=env, cwd=repo).stdout
        shown = orchard("show", result["run_id"], "--output", "json", env=env, cwd=repo).stdout
        assert result["run_id"] in shown and canary not in history + shown + ran.stdout
        assert "cost" in orchard("show", result["run_id"], env=env, cwd=repo).stdout
        for f in (home / "runs").rglob("*"):
            assert not f.is_file() or canary not in f.read_text(errors="replace"), f
    finally:
        stop_embedded(home)


def resumable_conversation(text: str):
    """A long first tool call (the worker is killed during it), then write, commit and finish."""
    return [Turn(tool_uses=[ToolUse("Bash", {"command": THINKER, "description": "think"})]),
            *write_and_commit_script("notes/resumed.md", commit_message="Add notes/resumed.md")]


@pytest.mark.parametrize("runner_name", ["docker", "sandbox"])
def test_a_killed_workers_claude_session_resumes_in_a_new_container(tmp_path, repo, runner_name):
    """In a new container, or a new sandbox: the session is in the instance's own home, kept for the retry."""
    require_cli("claude")
    require_docker() if runner_name == "docker" else require_sandbox()
    home = tmp_path / "home"
    write_dev_config(home)
    env = orchard_env(home, CLAUDE_CODE_MAX_RETRIES="1")
    try:
        with FakeAnthropic(conversations=resumable_conversation) as fake:
            started = orchard(
                "run", "RESUMABLE notes", "--plugin", "claude-code", "--runner", runner_name, "--network-egress", "proxy",
                "--api-key", "sk-ant-fake-resume", "--base-url", fake.base_url, "--detach", env=env, cwd=repo,
            )
            assert started.returncode == 0, started.stderr
            run_id = started.stdout.strip().splitlines()[-1]
            for _ in range(300):
                if not no_sleeper_left(THINKER):
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the agent never ran its tool")
            first_session = fake.main_requests[0].headers.get("x-claude-code-session-id")
            time.sleep(3 * HEARTBEAT_EVERY)  # the session id has reached Temporal in a heartbeat
            relays = [RunningRecord.model_validate_json(p.read_text()).relay for p in (home / "running").glob("*.json")]
            assert bool(relays and all(relays)) == (runner_name == "docker")  # the container's model relay, in /tmp
            os.kill(pid_in(home / "workers" / "orchard.pid"), signal.SIGKILL)

            # watch restarts the worker, with the credentials again: they are kept nowhere but in its environment
            watched = orchard(
                "watch", run_id, "--output", "json", "--api-key", "sk-ant-fake-resume", "--base-url", fake.base_url,
                env=env, cwd=repo, timeout=180,
            )
            assert watched.returncode == 0, watched.stderr
            (only,) = json.loads(watched.stdout.strip().splitlines()[-1])["instances"]
            assert only["success"] and only["session_id"] == first_session
            assert git(repo, "log", "--format=%s", f"main..{only['branch_name']}") == "Add notes/resumed.md"
            # The model saw the task start once and then the resume prompt in the same conversation.
            fresh = [r for r in fake.main_requests if not any(m["role"] == "assistant" for m in r.body["messages"])]
            assert len(fresh) == 1
            assert any(RESUME_PROMPT in json.dumps(r.body["messages"]) for r in fake.main_requests)
            assert containers_of(run_id) == [] and no_sleeper_left(THINKER)
            assert not any(os.path.exists(relay) for relay in relays if relay)  # the killed worker's, swept by the next
    finally:
        stop_embedded(home)


def codex_conversation(text: str) -> list:
    """As claude_conversation, in the Responses API's terms."""
    if JSON_REQUEST in text:
        return [oai.Turn(text='{"score": 6, "rationale": "fake review"}', usage=oai.Usage(400, 10))]
    if "FAIL" in text or "robustness" in text:
        return oai.failing_script("fake model refuses")
    if "SLOW" in text:
        return [oai.Turn(calls=(oai.Shell(CODEX_SLEEPER),))]
    name = f"notes/{hashlib.sha256(text.encode()).hexdigest()[:8]}.md"
    return oai.write_and_commit_script(name, f"# {name}\n", f"Add {name}")


CODEX_NO_RETRIES = ["-c", "model_providers.orchard.request_max_retries=0", "-c", "model_providers.orchard.stream_max_retries=0"]


@pytest.fixture
def fake_codex(monkeypatch, tmp_path):
    require_cli("codex")
    with oai.FakeOpenAI(conversations=codex_conversation) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-codex-" + uuid.uuid4().hex[:8])
        (tmp_path / "codex-home").mkdir()
        monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex-home"))
        # Codex runs commands in login shells: keep the machine's profile (pyenv rehash locks) out.
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))
        yield fake


async def test_codex_best_of_n_makes_two_branches_with_tokens_and_estimated_cost(client, task_queue, repo, fake_codex, runner):
    result = await run_strategy(
        client, task_queue, "best-of-n", repo, params={"n": 2, "diversity_hints": False}, agent="",
        plugin="codex", model="gpt-5.5", cli_args=CODEX_NO_RETRIES, **runner,
    )
    assert result.status == "success", [c.error for c in result.instances]
    assert len(orchard_branches(repo)) == 2
    for candidate in result.instances:
        subject = git(repo, "log", "--format=%s", f"main..{candidate.branch_name}")
        assert subject.startswith("Add notes/")
        note = subject.removeprefix("Add ")
        assert git(repo, "show", f"{candidate.branch_name}:{note}") == f"# {note}"  # the file Codex's shell wrote, as the model asked
        assert (candidate.input_tokens, candidate.output_tokens) == (4100, 115)
        assert candidate.cost_estimated and candidate.cost_usd > 0 and candidate.session_id
        assert candidate.metrics["score"] == 6 and candidate.runner == runner["runner"]
    assert result.cost_estimated and result.cost_usd > 0
    requests = fake_codex.model_requests
    assert {r.json["model"] for r in requests} == {"gpt-5.5"}
    assert {r.bearer_token for r in requests} == {os.environ["OPENAI_API_KEY"]}


async def test_codex_error_fails_one_instance_with_its_reason(client, task_queue, repo, fake_codex, runner):
    result = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 2}, agent="", plugin="codex", model="gpt-5.5", cli_args=CODEX_NO_RETRIES,
                                **runner)
    assert result.status == "partial"
    failed = next(c for c in result.instances if not c.success)
    assert failed.error_type == "agent" and "fake model refuses" in failed.error


async def test_cancel_leaves_no_codex_process_container_or_workspace(client, task_queue, repo, fake_codex, runner):
    defaults = TaskDefaults(plugin="codex", model="gpt-5.5", cli_args=CODEX_NO_RETRIES, **runner)
    await cancel_during_a_tool(client, task_queue, repo, CODEX_SLEEPER, defaults)


async def test_codex_timeout_kills_the_agent_and_its_commands(client, task_queue, repo, fake_codex, runner):
    run_id = f"run_timeout_{uuid.uuid4().hex[:6]}"
    result = await seen_running(CODEX_SLEEPER, run_strategy(
        client, task_queue, "simple", repo, prompt="SLOW task", agent="", plugin="codex", model="gpt-5.5", timeout=8,
        cli_args=CODEX_NO_RETRIES, run_id=run_id, **runner,
    ))
    (only,) = result.instances
    assert only.status == "timeout"
    assert no_sleeper_left(CODEX_SLEEPER)
    if runner["runner"] == "docker":
        assert only.runner == "docker" and containers_of(run_id) == []


@pytest.mark.parametrize("cli", ["claude", "codex"])
async def test_an_offline_sandbox_lets_the_cli_reach_no_model_server(client, task_queue, repo, cli, request):
    """With offline egress the sandbox has loopback only: the CLI cannot reach the fake model
    server on the host's loopback (which the same CLI reaches through the relay with proxy egress:
    the [sandbox] tests above): it fails, or keeps retrying until its timeout; nothing reached the server."""
    require_sandbox()
    fake = request.getfixturevalue("fake_claude" if cli == "claude" else "fake_codex")
    settings: dict = {"plugin": "claude-code"} if cli == "claude" else {"plugin": "codex", "model": "gpt-5.5", "cli_args": CODEX_NO_RETRIES}
    result = await run_strategy(client, task_queue, "simple", repo, prompt="write notes", agent="", runner="sandbox", network_egress="offline",
                                timeout=15, **settings)
    (only,) = result.instances
    assert only.runner == "sandbox" and not only.success and only.status in ("failed", "timeout"), only.error
    assert fake.requests == []
    assert orchard_branches(repo) == []
