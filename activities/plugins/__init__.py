"""Agent plugins by name."""

from __future__ import annotations

from activities.plugins.base import AgentPlugin, PluginError
from activities.plugins.command import CommandPlugin

PLUGINS: dict[str, type[AgentPlugin]] = {cls.name: cls for cls in (CommandPlugin,)}


def get_plugin(name: str) -> AgentPlugin:
    try:
        return PLUGINS[name]()
    except KeyError:
        raise PluginError(f"unknown plugin {name!r}; available: {', '.join(sorted(PLUGINS))}") from None
