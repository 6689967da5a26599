"""`--env NAME[=VALUE]`: values travel with the run; a credential only by name, from the worker."""

from __future__ import annotations

import pytest

from client.agent_env import parse_agent_env
from client.errors import UsageError
from workflows.sdk.models import TaskDefaults


def test_values_names_from_the_shell_and_credentials_by_name(monkeypatch):
    monkeypatch.setenv("FOO", "from the shell")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-never-in-history")
    values, from_worker = parse_agent_env(["FOO", "BAR=1", "ANTHROPIC_API_KEY", "BAR=2", "GITHUB_TOKEN"])
    assert values == {"FOO": "from the shell", "BAR": "2"} and from_worker == ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"]
    assert "sk-never-in-history" not in TaskDefaults(agent_env=values, worker_env=from_worker).model_dump_json()


@pytest.mark.parametrize("spec, said", [
    ("ANTHROPIC_API_KEY=sk-1", "looks like a credential, and its value would enter the run's history"),
    ("NOT_SET_ANYWHERE_42", "is not set here; give its value (--env NOT_SET_ANYWHERE_42=VALUE)"),
    ("1BAD=x", "'1BAD' is not a variable name"),
])
def test_what_cannot_be_passed_is_one_line(spec, said):
    with pytest.raises(UsageError, match=said.replace("(", r"\(").replace(")", r"\)")):
        parse_agent_env([spec])


def test_the_task_model_refuses_a_credential_value_however_it_comes():
    with pytest.raises(ValueError, match="looks like a credential"):
        TaskDefaults(agent_env={"MY_SECRET": "x"})
