"""Agent plugins by name."""

from __future__ import annotations

from activities.agents.base import AgentPlugin, PluginError
from activities.agents.claude_code import ClaudeCodePlugin
from activities.agents.codex import CodexPlugin
from activities.agents.command import CommandPlugin

__all__ = ["PLUGINS", "AgentPlugin", "PluginError", "get_plugin"]

PLUGINS: dict[str, type[AgentPlugin]] = {cls.name: cls for cls in (CommandPlugin, ClaudeCodePlugin, CodexPlugin)}


def get_plugin(name: str) -> AgentPlugin:
    try:
        return PLUGINS[name]()
    except KeyError:
        raise PluginError(f"unknown plugin {name!r}; available: {', '.join(sorted(PLUGINS))}") from None
