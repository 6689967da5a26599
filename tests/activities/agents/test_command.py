"""The command plugin: how the prompt reaches any command-line agent, and how its end is read."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from activities.agents import PluginError, get_plugin
from activities.agents.base import AgentContext, AgentState
from workflows.sdk.models import TaskSpec

CTX = AgentContext(workspace=Path("/ws"), run_id="run_1", key="gen/1", base_commit="abc")


def test_prompt_goes_to_stdin_env_and_placeholder_shell_quoted():
    prompt = "fix it; rm -rf / $(whoami) 'quoted'"
    cmd = get_plugin("command").build_command(TaskSpec(prompt=prompt, base_branch="main", agent_command="agent --task {prompt}", max_turns=4), CTX)
    assert cmd.argv == ["bash", "-c", f"agent --task {shlex.quote(prompt)}"]
    assert cmd.stdin == prompt
    assert cmd.env["ORCHARD_PROMPT"] == prompt and cmd.env["ORCHARD_KEY"] == "gen/1" and cmd.env["ORCHARD_MAX_TURNS"] == "4"


def test_missing_command_and_unknown_plugin_are_clear():
    with pytest.raises(PluginError, match="--agent-command"):
        get_plugin("command").build_command(TaskSpec(prompt="p", base_branch="main"), CTX)
    with pytest.raises(PluginError, match="unknown plugin 'nope'; available: claude-code, codex, command"):
        get_plugin("nope")


def test_final_message_and_failure_reason():
    plugin, state = get_plugin("command"), AgentState()
    for line in ["working", "", "done: 3 files"]:
        plugin.parse_line(line, state)
    assert state.last_event == "done: 3 files"
    plugin.finish(state, 2, "warning\nfatal: no credits\n")
    assert state.final_message == "working\n\ndone: 3 files"
    assert state.error == "agent exited with code 2: fatal: no credits"


def test_a_link_the_last_agent_left_for_its_prompt_file_is_replaced_not_written_through(tmp_path):
    """A loop's agent home is kept across iterations: an agent (in a container, as another user)
    that leaves a link where the worker writes the prompt must not get a host file overwritten."""
    from activities.agents.command import PROMPT_FILE

    home, victim = tmp_path / "home", tmp_path / "victim.txt"
    home.mkdir()
    victim.write_text("the host's own file\n")
    (home / PROMPT_FILE).symlink_to(victim)
    ctx = AgentContext(workspace=Path("/workspace"), run_id="run_1", key="loop", base_commit="abc", agent_home=Path("/home/agent"),
                       host_agent_home=home, in_container=True)
    get_plugin("command").build_command(TaskSpec(prompt="next iteration", base_branch="main", agent_command="true"), ctx)
    assert victim.read_text() == "the host's own file\n"
    assert not (home / PROMPT_FILE).is_symlink() and (home / PROMPT_FILE).read_text() == "next iteration"


@pytest.mark.parametrize(("command", "expected"), [
    ("printf '%s' {prompt}", "PROMPT"),
    ("printf '%s' 'before {prompt} after'", "before PROMPT after"),
    ('printf \'%s\' "before {prompt} after"', "before PROMPT after"),
])
def test_the_prompt_is_data_wherever_the_placeholder_stands(tmp_path, command, expected):
    """A runbook's value may put `{prompt}` inside quotes of the agent's command: the prompt (from
    a queue item's title) arrives as written there and runs nothing."""
    import subprocess

    prompt = f"x'\"; touch {tmp_path}/pwned; echo $(touch {tmp_path}/pwned) `touch {tmp_path}/pwned` \\ end"
    cmd = get_plugin("command").build_command(TaskSpec(prompt=prompt, base_branch="main", agent_command=command), CTX)
    done = subprocess.run(cmd.argv, capture_output=True, text=True, check=True)
    assert done.stdout == expected.replace("PROMPT", prompt) and not (tmp_path / "pwned").exists()
