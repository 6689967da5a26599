"""Agent plugins by name."""

from __future__ import annotations

from activities.plugins.base import AgentPlugin, PluginError
from activities.plugins.claude_code import ClaudeCodePlugin
from activities.plugins.codex import CodexPlugin
from activities.plugins.command import CommandPlugin

PLUGINS: dict[str, type[AgentPlugin]] = {cls.name: cls for cls in (CommandPlugin, ClaudeCodePlugin, CodexPlugin)}


def get_plugin(name: str) -> AgentPlugin:
    try:
        return PLUGINS[name]()
    except KeyError:
        raise PluginError(f"unknown plugin {name!r}; available: {', '.join(sorted(PLUGINS))}") from None
