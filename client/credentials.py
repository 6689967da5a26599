"""Credentials given on the command line, for the worker this host runs; kept nowhere else."""

from __future__ import annotations

import argparse

from client.errors import UsageError


def credentials_from(args: argparse.Namespace, plugin: str) -> dict[str, str]:
    """Environment for the worker's agents from --api-key, --oauth-token and --base-url."""
    creds: dict[str, str] = {}
    if args.api_key:
        creds["OPENAI_API_KEY" if plugin == "codex" else "ANTHROPIC_API_KEY"] = args.api_key
    if args.oauth_token:
        if plugin != "claude-code":
            raise UsageError("--oauth-token is for --plugin claude-code")
        creds["CLAUDE_CODE_OAUTH_TOKEN"] = args.oauth_token
    if args.base_url:
        creds["OPENAI_BASE_URL" if plugin == "codex" else "ANTHROPIC_BASE_URL"] = args.base_url
    return creds
