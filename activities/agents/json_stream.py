"""What the agent CLIs that print one JSON event per line have in common."""

from __future__ import annotations

import json
import shutil
from abc import abstractmethod
from typing import Any, ClassVar

from activities.agents.base import AgentContext, AgentPlugin, AgentState, PluginError
from workflows.sdk.models import TaskSpec


class JsonStreamPlugin(AgentPlugin):
    executable: ClassVar[str]
    install_hint: ClassVar[str]

    def find_executable(self, task: TaskSpec, ctx: AgentContext) -> str:
        if ctx.in_container:  # the image's CLI, on its PATH
            return str(task.plugin_options.get("executable") or self.executable)
        exe = task.plugin_options.get("executable") or shutil.which(self.executable)
        if not exe:
            raise PluginError(f"the `{self.executable}` CLI is not installed on this worker; install it with `{self.install_hint}`")
        return str(exe)

    def parse_line(self, line: str, state: AgentState) -> None:
        try:
            event = json.loads(line)
        except ValueError:  # the odd plain line: show it, it is progress too
            if line.strip():
                state.last_event = line.strip()[:200]
            return
        if isinstance(event, dict):
            self.on_event(event, state)

    @abstractmethod
    def on_event(self, event: dict[str, Any], state: AgentState) -> None:
        """Update `state` from one decoded event."""
