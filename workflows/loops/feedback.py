"""The prompt of each iteration: the task, and from iteration 2 what failed after the last one.

A Jinja2 template rendered in Jinja2's sandbox (no access to Python internals from a template),
with undefined variables an error rather than empty text. `-S feedback_template=@file.md`
replaces the default; its variables are listed in FEEDBACK_VARIABLES.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from workflows.sdk.errors import ConfigError

DEFAULT_FEEDBACK = """{{ task }}
{%- if iteration > 1 %}

This is iteration {{ iteration }} of at most {{ max_iterations }} on this task. Earlier iterations already committed work on this branch (see `git log`).
{%- if failures %}
After iteration {{ iteration - 1 }}, these checks failed:
{%- for f in failures %}

{{ f.level }}: `{{ f.command }}` ({% if f.exit_code is none %}timed out{% else %}exit {{ f.exit_code }}{% endif %})
{{ f.output_tail }}
{%- endfor %}

Fix what they report, then commit your changes.
{%- elif verified %}
Verification passed after iteration {{ iteration - 1 }}; finish the task and commit.
{%- else %}
Go on with the task and commit your changes.
{%- endif %}
{%- endif %}
{%- for nudge in nudges %}

A person steering this loop adds: {{ nudge }}
{%- endfor %}
"""

FEEDBACK_VARIABLES = {
    "task": "the task as given",
    "iteration": "this iteration's number (1 for the first)",
    "max_iterations": "the most iterations the loop may run now",
    "failures": "the failing commands of the last iteration: level, command, exit_code (none: timed out), output_tail",
    "verified": "whether every verification level passed after the last iteration",
    "highest_level": "the highest passing level after the last iteration (none if none)",
    "agent_output": "the agent's final message in the last iteration",
    "reason": "why the loop went on after the last iteration",
    "nudges": "what people added with `orchard loop nudge` since the last iteration",
    "resume": "whether the agent continues its session (context=resume)",
}

_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@lru_cache(maxsize=16)
def _compiled(source: str) -> Template:
    return _ENV.from_string(source)


def check_template(source: str) -> None:
    """A template that cannot render (bad syntax, a variable the loop does not give) is a ConfigError."""
    try:
        unknown = sorted(meta.find_undeclared_variables(_ENV.parse(source)) - set(FEEDBACK_VARIABLES))
    except TemplateError as e:
        raise ConfigError(f"feedback_template: {e.message} (line {getattr(e, 'lineno', '?')})") from None
    if unknown:
        raise ConfigError(f"feedback_template uses {', '.join(unknown)}, which the loop does not give; it gives: {', '.join(FEEDBACK_VARIABLES)}")


def render_feedback(source: str, values: dict[str, Any]) -> str:
    try:
        return _compiled(source).render(values).strip() + "\n"
    except TemplateError as e:
        raise ConfigError(f"feedback_template failed to render: {e}") from None
