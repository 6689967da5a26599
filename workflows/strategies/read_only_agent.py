"""Asking a read-only agent for an answer: the wording agents (and the demo agent) recognise,
pulling JSON objects out of free text, and re-asking when an answer cannot be used."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import workflow

from workflows.sdk.context import Context
from workflows.sdk.errors import InstanceFailed

T = TypeVar("T")

READ_ONLY = "Do not modify any files."
JSON_REQUEST = "Respond with exactly one JSON object and nothing else"


def json_objects(text: str | None) -> list[dict[str, Any]]:
    """The JSON objects in an agent's answer, most likely first: the whole text, then every flat
    `{...}` from the last one back (agents tend to explain first and answer last)."""
    if not text:
        return []
    found = []
    for chunk in [text.strip()] + re.findall(r"\{[^{}]*\}", text, flags=re.DOTALL)[::-1]:
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


def agent_overrides(model: str, plugin: str = "", agent_command: str = "") -> dict[str, Any]:
    """Task fields for a helper agent (scorer, reviewer) that may differ from the run's agent."""
    task: dict[str, Any] = {"model": model}
    if plugin:
        task["plugin"] = plugin
    if agent_command:
        task["agent_command"] = agent_command
    return task


async def ask(
    ctx: Context, task: dict[str, Any], key: tuple[Any, ...], parse: Callable[[str | None], T | None], attempts: int
) -> T | None:
    """Run a read-only agent (nothing imported) until `parse` accepts its final message, at most
    `attempts` times; each attempt is its own instance, keyed `key + (attempt,)`. None if no
    answer was usable."""
    request: str = task["prompt"]
    answer: str | None = None
    for attempt in range(1, attempts + 1):
        prompt = request if answer is None else (
            f"{request}\n\nYour previous answer could not be used:\n{answer[:500]}\nAnswer again with only the JSON object."
        )
        handle = await ctx.run({**task, "prompt": prompt, "import_policy": "never"}, key=ctx.key(*key, attempt))
        try:
            result = await ctx.wait(handle)
        except InstanceFailed as failed:
            workflow.logger.warning("read-only agent %s failed: %s", failed.result.key, failed.result.error)
            answer = failed.result.error or ""
            continue
        parsed = parse(result.final_message)
        if parsed is not None:
            return parsed
        answer = result.final_message or ""
    return None
