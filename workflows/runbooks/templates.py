"""Runbook templates: Jinja2 in its sandbox, with otters' single braces inline.

Inline templates (commands, prompts, conditions in the TOML) write variables as `{name}`,
`{bug.id}`, `{labels | join(", ")}`; template files (`prompt_file`) as `{{ name }}`. Both have
`{% if %}`, `{% for %}`, Jinja2's filters and `quote` (shell quoting: `git commit -m {msg | quote}`;
values are otherwise inserted as they are). An undefined variable is an error, never empty text,
and a template cannot reach Python internals. A literal brace in an inline template goes in
`{% raw %}…{% endraw %}` (awk '{% raw %}{print $1}{% endraw %}').
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from workflows.runbooks.model import PipelineDef, Template

RUNTIME_VARIABLES: dict[str, str] = {
    "phase": "the phase that runs now",
    "workspace": "the pipeline's workspace (its own checkout of the base branch)",
    "branch": "the pipeline's branch, orchard/runbook/<pipeline>/<run_id>",
    "run_id": "the pipeline run's id",
    "pipeline": "the pipeline's name",
    "runbook": "the runbook's name",
    "outputs": "what earlier phases printed, by phase: outputs.plan (a command's stdout, stripped; an agent's final message)",
    "config": "the runbook's [config]",
}
CHAIN_VARIABLES: dict[str, str] = {
    "checkpoint": "what the strategy's checkpoint command printed (attempts and rollbacks)",
    "attempt": "the attempt that runs now",
}
FAILURE_VARIABLES: dict[str, str] = {"error": "why the pipeline or phase failed (on_fail events)"}
ITEM_VARIABLES: dict[str, str] = {"item": "the queue item a worker hands its task"}
RESERVED = {**RUNTIME_VARIABLES, **CHAIN_VARIABLES, **FAILURE_VARIABLES}
"""Names an input or default cannot take: Orchard gives them. (`item` may name a pipeline's input.)"""


class RenderError(Exception):
    """A template that fails to render: says which template and why."""


def _env(variables: tuple[str, str]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        variable_start_string=variables[0], variable_end_string=variables[1],
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env


ENVIRONMENTS = {"inline": _env(("{", "}")), "file": _env(("{{", "}}"))}


@dataclass
class TemplateUse:
    """What a template reads: root variable names, and the keys it reads of `outputs` and `config`."""
    variables: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    config: set[str] = field(default_factory=set)


def _syntax_message(template: Template, e: TemplateSyntaxError) -> str:
    hint = ""
    if template.syntax == "inline" and "{{" in template.source:
        hint = "; inline templates write variables as {name} ({{ name }} is for template files)"
    elif template.syntax == "inline" and ("unexpected char" in e.message or "expected token" in e.message):
        hint = "; a literal brace goes in {% raw %}…{% endraw %}"
    return f"template syntax: {e.message} (line {e.lineno}){hint}"


def inspect(template: Template) -> TemplateUse:
    """What `template` reads. Raises ValueError with a one-line message on bad syntax."""
    env = ENVIRONMENTS[template.syntax]
    try:
        tree = env.parse(template.source)
    except TemplateSyntaxError as e:
        raise ValueError(_syntax_message(template, e)) from None
    use = TemplateUse(variables=set(meta.find_undeclared_variables(tree)) - set(env.globals))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name in ("outputs", "config"):
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                (use.outputs if node.node.name == "outputs" else use.config).add(key)
    return use


def shell_variable_hint(template: Template, name: str) -> str:
    """`${HOME}` in an inline template reads a template variable HOME; say how to write the shell's."""
    if template.syntax == "inline" and re.search(r"\$\{\s*" + re.escape(name) + r"\s*\}", template.source):
        return f"; for the shell's variable write ${name} (no braces) or {{% raw %}}${{{name}}}{{% endraw %}}"
    return ""


@lru_cache(maxsize=512)
def _compiled(source: str, syntax: str):  # type: ignore[no-untyped-def]
    return ENVIRONMENTS[syntax].from_string(source)


def render(template: Template, context: dict[str, Any]) -> str:
    try:
        return _compiled(template.source, template.syntax).render(context)
    except TemplateError as e:
        where = f"{template.origin}: " if template.origin else ""
        raise RenderError(f"{where}{e.message or e}") from None


def pipeline_context(pipeline: PipelineDef, inputs: dict[str, Any], config: dict[str, Any], runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed's order: the inputs, then the defaults (each may use the inputs and the defaults
    before it), then `config` and the runtime values. Raises RenderError for a missing input."""
    missing = [name for name in pipeline.required_inputs() if name not in inputs]
    if missing:
        raise RenderError(f"pipeline {pipeline.name} needs {', '.join(missing)} (inputs: {', '.join(pipeline.inputs)})")
    context: dict[str, Any] = {"config": config, **inputs}
    for name, default in pipeline.defaults.items():
        if name not in inputs:
            context[name] = render(default, context)
    return {**context, **(runtime or {})}
