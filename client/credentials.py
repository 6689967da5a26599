"""Credentials given on the command line, for the worker this host runs; kept nowhere else."""

from __future__ import annotations

from client.errors import UsageError
from client.request import GivenCredentials


def credentials_from(given: GivenCredentials, plugin: str) -> dict[str, str]:
    """Environment for the worker's agents from --api-key, --oauth-token and --base-url."""
    creds: dict[str, str] = {}
    if given.api_key:
        creds["OPENAI_API_KEY" if plugin == "codex" else "ANTHROPIC_API_KEY"] = given.api_key
    if given.oauth_token:
        if plugin != "claude-code":
            raise UsageError("--oauth-token is for --plugin claude-code")
        creds["CLAUDE_CODE_OAUTH_TOKEN"] = given.oauth_token
    if given.base_url:
        creds["OPENAI_BASE_URL" if plugin == "codex" else "ANTHROPIC_BASE_URL"] = given.base_url
    return creds
