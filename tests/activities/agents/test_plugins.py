"""The Claude Code and Codex plugins read the real CLIs' recorded output (tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.agents import get_plugin
from activities.agents.base import AgentContext, AgentState, PluginError
from activities.agents.codex import estimate_cost
from tests.conftest import ROOT
from workflows.sdk.models import TaskSpec

FIXTURES = ROOT / "tests" / "fixtures"
CTX = AgentContext(workspace=Path("/ws"), run_id="run_1", key="gen/1", base_commit="abc")


def replay_stream(plugin_name: str, fixture: Path, exit_code: int = 0, model: str = "") -> AgentState:
    plugin, state = get_plugin(plugin_name), AgentState()
    plugin.build_command(TaskSpec(prompt="p", base_branch="main", plugin=plugin_name, model=model, plugin_options={"executable": "/bin/true"}), CTX)
    for line in fixture.read_text().splitlines():
        plugin.parse_line(line, state)
    plugin.finish(state, exit_code, "")
    return state


def test_claude_code_command_line():
    task = TaskSpec(
        prompt="fix it", base_branch="main", plugin="claude-code", model="sonnet", max_turns=5,
        append_system_prompt="be brief", cli_args=["--verbose"], plugin_options={"executable": "/opt/claude"},
    )
    cmd = get_plugin("claude-code").build_command(task, AgentContext(**{**CTX.__dict__, "session_id": "s-1"}))
    assert cmd.argv == [
        "/opt/claude", "--print", "--verbose", "--output-format", "stream-json", "--model", "sonnet", "--max-turns", "5",
        "--append-system-prompt", "be brief", "--dangerously-skip-permissions", "--resume", "s-1", "--verbose", "fix it",
    ]
    assert cmd.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_claude_code_stream_gives_session_message_tokens_and_cost():
    state = replay_stream("claude-code", FIXTURES / "claude" / "stream.jsonl")
    assert state.error is None
    assert state.session_id == "9381c1b2-c211-42f3-923e-239fc1a35ae7"
    assert state.final_message == "Wrote and committed the file."
    assert (state.input_tokens, state.output_tokens, state.num_turns) == (3900, 115, 3)
    assert state.cost_usd == 0.013425 and not state.cost_estimated


def test_claude_code_cost_is_estimated_from_tokens_while_it_runs_until_its_own_figure_arrives():
    from activities.agents.claude_code import estimate_cost as claude_estimate

    plugin, state = get_plugin("claude-code"), AgentState()
    plugin.build_command(TaskSpec(prompt="p", base_branch="main", plugin="claude-code", plugin_options={"executable": "/bin/true"}), CTX)
    seen = []
    for line in (FIXTURES / "claude" / "stream.jsonl").read_text().splitlines():
        plugin.parse_line(line, state)
        seen.append((state.input_tokens, state.output_tokens, state.cost_usd, state.cost_estimated))
    # After the first model message (1,200 tokens in, 1 out at claude-sonnet-4-5's $3/$15 per million): an estimate, marked.
    assert seen[1] == (1200, 1, 0.003615, True)
    assert all(cost > 0 and estimated for _, _, cost, estimated in seen[1:-1])  # live all along, never "-"
    assert seen[-1] == (3900, 115, 0.013425, False)  # the agent's own figure, once it reports it
    assert claude_estimate("claude-sonnet-4-5", {"input_tokens": 3900, "output_tokens": 115}) == 0.013425  # the table matches Anthropic's figure
    assert claude_estimate("claude-opus-4-5-20251101", {"cache_read_input_tokens": 1_000_000}) == 0.5
    assert claude_estimate("some-local-model", {"input_tokens": 10}) is None


def test_claude_code_error_result_is_a_failure_with_its_reason():
    state = replay_stream("claude-code", FIXTURES / "claude" / "stream_error.jsonl", exit_code=1)
    assert state.error == "claude reported an error: API Error: 400 fake-anthropic: scripted failure"


def test_codex_cost_is_estimated_from_the_price_table():
    assert estimate_cost("gpt-5", 1_000_000, 0, 1_000_000) == 11.25
    assert estimate_cost("gpt-5-mini", 2_000_000, 1_000_000, 0) == 0.275
    assert estimate_cost("some-local-model", 10, 0, 10) is None


def test_codex_command_line_uses_a_responses_provider_for_a_base_url(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    task = TaskSpec(prompt="fix it", base_branch="main", plugin="codex", model="gpt-5.5", cli_args=["-c", "x=1"], plugin_options={"executable": "/opt/codex"})
    argv = get_plugin("codex").build_command(task, AgentContext(**{**CTX.__dict__, "session_id": "t-1"})).argv
    assert argv[:8] == ["/opt/codex", "exec", "--json", "--skip-git-repo-check", "--color", "never", "-C", "/ws"]
    assert 'model_provider="orchard"' in argv and 'model_providers.orchard.wire_api="responses"' in argv
    assert 'model_providers.orchard.base_url="http://127.0.0.1:9/v1"' in argv and 'model_providers.orchard.env_key="OPENAI_API_KEY"' in argv
    assert argv[-6:] == ["--dangerously-bypass-approvals-and-sandbox", "-c", "x=1", "resume", "t-1", "fix it"]


def test_codex_stream_gives_thread_message_usage_and_estimated_cost():
    state = replay_stream("codex", FIXTURES / "codex" / "exec.jsonl", model="gpt-5.5")
    assert state.error is None
    assert state.session_id == "01a20047-ccaf-7d42-8336-cbbeb17cbea3"
    assert state.final_message == "I wrote the file and committed it."
    assert (state.input_tokens, state.output_tokens) == (4100, 115)
    assert state.cost_estimated and state.cost_usd == estimate_cost("gpt-5.5", 4100, 2304, 115)


def test_codex_failed_turn_is_a_failure_with_its_reason():
    state = replay_stream("codex", FIXTURES / "codex" / "exec_error.jsonl", exit_code=1)
    assert state.error == "codex turn failed: The fake model is overloaded"


def test_a_prompt_too_long_for_an_argument_goes_on_stdin(tmp_path):
    long = "do this. " * 20_000  # 180 KB: over the kernel's 128 KiB per argument
    ctx = AgentContext(**{**CTX.__dict__, "agent_home": tmp_path / "home", "host_agent_home": tmp_path / "home"})
    claude = get_plugin("claude-code").build_command(TaskSpec(prompt=long, base_branch="main", plugin="claude-code",
                                                              plugin_options={"executable": "/opt/claude"}), ctx)
    assert long not in claude.argv and claude.stdin == long
    codex = get_plugin("codex").build_command(TaskSpec(prompt=long, base_branch="main", plugin="codex", plugin_options={"executable": "/opt/codex"}), ctx)
    assert codex.argv[-1] == "-" and codex.stdin == long
    command = get_plugin("command").build_command(TaskSpec(prompt=long, base_branch="main", agent_command="my-agent"), ctx)
    assert command.stdin == long and command.env["ORCHARD_PROMPT"] == "" and (tmp_path / "home" / "prompt.md").read_text() == long
    assert command.env["ORCHARD_PROMPT_FILE"] == str(tmp_path / "home" / "prompt.md")
    with pytest.raises(PluginError, match=r"too long for \{prompt\}.*\$ORCHARD_PROMPT_FILE"):
        get_plugin("command").build_command(TaskSpec(prompt=long, base_branch="main", agent_command="my-agent {prompt}"), ctx)
    short = get_plugin("claude-code").build_command(TaskSpec(prompt="fix it", base_branch="main", plugin="claude-code",
                                                             plugin_options={"executable": "/opt/claude"}), ctx)
    assert short.argv[-1] == "fix it" and short.stdin is None
