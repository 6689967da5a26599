"""The Claude Code and Codex plugins read the real CLIs' recorded output (tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

from activities.plugins import get_plugin
from activities.plugins.base import AgentContext, AgentState
from activities.plugins.codex import estimate_cost
from workflows.models import TaskSpec

FIXTURES = Path(__file__).parent / "fixtures"
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


def test_claude_code_error_result_is_a_failure_with_its_reason():
    state = replay_stream("claude-code", FIXTURES / "claude" / "stream_error.jsonl", exit_code=1)
    assert state.error == "claude reported an error: API Error: 400 fake-anthropic: scripted failure"


def test_codex_cost_is_estimated_from_the_price_table():
    assert estimate_cost("gpt-5", 1_000_000, 0, 1_000_000) == 11.25
    assert estimate_cost("gpt-5-mini", 2_000_000, 1_000_000, 0) == 0.275
    assert estimate_cost("some-local-model", 10, 0, 10) is None
