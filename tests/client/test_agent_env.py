"""`--env NAME[=VALUE]`: values travel with the run; a credential only by name, from the worker."""

from __future__ import annotations

import pytest

from client.agent_env import parse_agent_env
from client.errors import UsageError
from workflows.sdk.models import SECRET_NAME, TaskDefaults


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


@pytest.mark.parametrize("name", ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "NPM_AUTH", "AUTH_HEADER", "BASIC_AUTH_USER", "gcp_credentials"])
def test_credential_names(name):
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize("name", ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "XAUTHORITY", "SSH_AUTH_SOCK", "AUTHOR", "PATH"])
def test_names_that_are_not_credentials_pass_with_their_values(name):
    """An author's e-mail or the agent socket's path is not a secret: it can be passed by value,
    and redaction does not blank it out of every log."""
    assert not SECRET_NAME.search(name)
    values, from_worker = parse_agent_env([f"{name}=a value"])
    assert values == {name: "a value"} and from_worker == []
