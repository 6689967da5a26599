"""Runbook templates: Jinja2 in its sandbox, with otters' single braces inline.

Inline templates (commands, prompts, conditions in the TOML) write variables as `{name}`,
`{bug.id}`, `{labels | join(", ")}`; template files (`prompt_file`) as `{{ name }}`. Both have
`{% if %}`, `{% for %}`, Jinja2's filters, `quote` and `raw`. In a shell template (model.py's
`ShellTemplate` fields) every value is quoted for where it stands (shell.py): one word in the bare
command, escaped inside quotes; `quote` says so explicitly (no second quoting), `raw` opts out
and the runbook's own `config` is shell text. Elsewhere (prompts, env, inputs) values are inserted
as they are and `quote` is shlex.quote. An undefined variable is an error, never empty text, and a
template cannot reach Python internals (the sandbox refuses them; `inspect` says so before).

In an inline template, as in otters, only a brace that opens a template is one: `{name}`,
`{bug.id}`, `{labels | join(", ")}` (a group that reads as one expression) and `{% ... %}` blocks.
Every other brace is text, as written: `xargs -I{} date -d {}`, `awk '{print $1}'`, `find . -exec
rm {} +`, `${VAR:-default}` (inline_source). A group that does read as a name is a variable
(`{print}`, `${HOME}`: an error when nothing defines it); `{% raw %}…{% endraw %}` keeps it text.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import jinja2
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes, pass_context, pass_eval_context
from jinja2.filters import do_join
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import UNSAFE_ASYNC_GENERATOR_ATTRIBUTES, UNSAFE_COROUTINE_ATTRIBUTES, UNSAFE_GENERATOR_ATTRIBUTES, SandboxedEnvironment

import workflows.runbooks.shell as shell


class Template(Protocol):
    """A template as model.py's Template holds it (model.py reads templates with this module, so
    this module names only what it uses of it)."""

    @property
    def source(self) -> str: ...
    @property
    def syntax(self) -> str: ...
    @property
    def shell(self) -> bool: ...
    @property
    def origin(self) -> str: ...


class PipelineDef(Protocol):
    """What pipeline_context reads of model.py's PipelineDef."""

    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> list[str]: ...

    @property
    def defaults(self) -> Mapping[str, Template]: ...

    def required_inputs(self) -> list[str]: ...

ORCHARD_VALUES: dict[str, str] = {
    "branch": "the pipeline's branch: its branch default (otters' defaults.branch), else orchard/runbook/<pipeline>/<run_id>",
    "workspace": "the pipeline's workspace (its own checkout of the base branch), where its commands run",
    "pipeline": "the pipeline's name",
    "run_id": "the pipeline run's id",
    "runbook": "the runbook's name",
    "phase": "the phase that runs now",
}
"""Orchard's own values, as `orchard.NAME`: a spelling no runbook's names can hide."""
RUNTIME_VARIABLES: dict[str, str] = {
    "phase": "the phase that runs now",
    "workspace": "the pipeline's workspace (its own checkout of the base branch)",
    "branch": "the pipeline's branch: its branch default (otters' defaults.branch), else orchard/runbook/<pipeline>/<run_id>",
    "run_id": "the pipeline run's id",
    "pipeline": "the pipeline's name",
    "runbook": "the runbook's name",
    "outputs": "what earlier phases printed, by phase: outputs.plan (a command's stdout, stripped; an agent's final message)",
    "config": "the runbook's [config]",
    "orchard": "Orchard's own values, whatever the runbook names: " + ", ".join(f"orchard.{name}" for name in ORCHARD_VALUES),
}
OWN_NAMES = ("branch", "workspace", "pipeline")
"""Runtime values a pipeline may name for itself (otters' inputs and defaults: `branch = "fix/{bug.id}"`,
`inputs = ["branch", "pipeline"]`): its own value then wins, and Orchard's is `orchard.NAME`."""
CHAIN_VARIABLES: dict[str, str] = {
    "checkpoint": "what the strategy's checkpoint command printed (attempts and rollbacks)",
    "attempt": "the attempt that runs now",
}
FAILURE_VARIABLES: dict[str, str] = {"error": "why the pipeline or phase failed (on_fail events)"}
ITEM_VARIABLES: dict[str, str] = {"item": "the queue item a worker hands its task"}
RESERVED = {name: said for name, said in {**RUNTIME_VARIABLES, **CHAIN_VARIABLES, **FAILURE_VARIABLES}.items() if name not in OWN_NAMES}
"""Names an input or default cannot take: Orchard gives them. (`item` may name a pipeline's input, and so may OWN_NAMES.)"""


class RenderError(Exception):
    """A template that fails to render: says which template and why."""


_SLOTS = "\x00slots"
"""Where a shell template's render keeps its values (not a name a template can write)."""
_INTERNALS = {"mro"} | UNSAFE_GENERATOR_ATTRIBUTES | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES


@pass_context
def _slot(context: Context, value: Any) -> str:
    """(Shell templates) each value printed becomes a slot, which shell.insert fills, quoted for where it stands."""
    if isinstance(value, shell.ShellText):
        return value
    slots: list[Any] = context.get(_SLOTS)
    kept = value if isinstance(value, shell.Quoted) else shell.resolve(str(value), slots)
    if shell.SLOT in kept:
        raise TemplateError("a value holds a NUL byte, which no shell command can")
    slots.append(kept)
    return f"{shell.SLOT}{len(slots) - 1}{shell.SLOT}"


@pass_context
def _quote(context: Context, value: Any) -> shell.Quoted:
    return shell.quote(shell.resolve(str(value), context.get(_SLOTS)))


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = list(value)
    text = do_join(eval_ctx, items, d, attribute)
    return text if attribute is not None else shell.joined(items, d, text)


def _env(variables: tuple[str, str], in_shell: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        variable_start_string=variables[0], variable_end_string=variables[1],
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False, finalize=_slot if in_shell else None,
    )
    if in_shell:
        env.filters.update(quote=_quote, raw=shell.ShellText, join=_join)
    else:
        env.filters.update(quote=lambda value: shlex.quote(str(value)), raw=str)
    return env


ENVIRONMENTS = {(syntax, in_shell): _env(braces, in_shell) for syntax, braces in (("inline", ("{", "}")), ("file", ("{{", "}}"))) for in_shell in (False, True)}

_EXPRESSIONS = SandboxedEnvironment()
"""Reads what a brace group holds as an expression (its own delimiters are not `{` and `}`)."""
_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}|\{%.*?%\}", re.DOTALL)
_OPENS_NAME = re.compile(r"\{\s*[A-Za-z_]")
_GROUP_TRIES = 8
"""Closing braces tried for one group (`{x | default({})}` needs the second): a bound on the work per brace."""


def _group_end(source: str, start: int) -> int | None:
    """Where the template group opening at `start` ends (after its `}`), or None: its content up to
    one of the next closing braces reads as one expression (`name`, `bug.id`, `xs | join(", ")`)."""
    close = start
    for _ in range(_GROUP_TRIES):
        close = source.find("}", close + 1)
        if close < 0:
            return None
        content = source[start + 1:close]
        if not content.strip():
            return None
        try:
            parser = Parser(_EXPRESSIONS, content, state="variable")
            parser.parse_expression()
            if parser.stream.eos:
                return close + 1
        except TemplateError:
            pass
    return None


def _text(out: list[str], text: list[str]) -> None:
    """Text as written: where it holds a brace, in a raw block, so that Jinja2 reads it as text."""
    joined = "".join(text)
    out.append(f"{{% raw %}}{joined}{{% endraw %}}" if "{" in joined else joined)
    text.clear()


@lru_cache(maxsize=2048)
def inline_source(source: str) -> str:
    """An inline template as Jinja2 reads it: its template groups and blocks as written, every other
    brace text. A group that opens a name and never closes (`echo {name`), an unclosed block, or
    a group in double braces (`{{ name }}`, a template file's spelling) is left to Jinja2, which
    says what is wrong with it."""
    out: list[str] = []
    text: list[str] = []
    i = 0
    while i < len(source):
        if source[i] != "{":
            j = source.find("{", i)
            j = len(source) if j < 0 else j
            text.append(source[i:j])
            i = j
            continue
        if source.startswith("{%", i):
            block = _BLOCK.match(source, i)
            end = block.end() if block else len(source)
            _text(out, text)
            out.append(source[i:end])
            i = end
            continue
        inner = _group_end(source, i + 1) if source.startswith("{{", i) else None
        if inner is not None and source.startswith("}", inner):
            _text(out, text)
            out.append(source[i:inner + 1])
            i = inner + 1
            continue
        group = _group_end(source, i)
        if group is None and _OPENS_NAME.match(source, i) and "}" not in source[i:]:
            group = len(source)
        if group is None:
            text.append("{")
            i += 1
            continue
        _text(out, text)
        out.append(source[i:group])
        i = group
    _text(out, text)
    return "".join(out)


def jinja_source(source: str, syntax: str) -> str:
    """What Jinja2 parses of a template: a template file as written, an inline one as inline_source reads it."""
    return inline_source(source) if syntax == "inline" else source


@dataclass
class TemplateUse:
    """What a template reads: root variable names, and the keys it reads of `outputs` and `config`."""
    variables: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)
    config: set[str] = field(default_factory=set)
    orchard: set[str] = field(default_factory=set)
    raw: list[str] = field(default_factory=list)
    """The values it marks `raw` (inserted into a shell command as they are), by the names they read."""


def _syntax_message(source: str, syntax: str, e: TemplateSyntaxError) -> str:
    hint, message = "", e.message or ""
    if syntax == "inline" and "{{" in source:
        hint = "; inline templates write variables as {name} ({{ name }} is for template files)"
    elif syntax == "inline" and ("unexpected char" in message or "expected token" in message):
        hint = "; a literal brace goes in {% raw %}…{% endraw %}"
    return f"template syntax: {e.message} (line {e.lineno}){hint}"


def inspect(template: Template) -> TemplateUse:
    """What `template` reads. Raises ValueError with a one-line message on bad syntax."""
    use = _inspected(template.source, template.syntax)
    if isinstance(use, str):
        raise ValueError(use)
    return copy.deepcopy(use)


@lru_cache(maxsize=2048)
def _inspected(source: str, syntax: str) -> TemplateUse | str:
    """`inspect` of a template's source, or its one-line problem: a runbook's templates are checked
    whenever its models are read (each command, each workflow task that reads them), and parsing
    them is most of that."""
    env = ENVIRONMENTS[syntax, False]
    try:
        tree = env.parse(jinja_source(source, syntax))
    except TemplateSyntaxError as e:
        return _syntax_message(source, syntax, e)
    try:
        check_internals(tree)
    except ValueError as e:
        return str(e)
    use = TemplateUse(variables=set(meta.find_undeclared_variables(tree)) - set(env.globals))
    for node in tree.find_all(nodes.Filter):
        if node.name == "raw" and node.node is not None:
            names = [node.node, *node.node.find_all(nodes.Name)]
            use.raw.append(" ".join(sorted({n.name for n in names if isinstance(n, nodes.Name)})) or "a constant")
    accesses: Iterator[nodes.Getattr | nodes.Getitem] = tree.find_all((nodes.Getattr, nodes.Getitem))
    for access in accesses:
        if isinstance(access.node, nodes.Name) and access.node.name in ("outputs", "config", "orchard"):
            key = access.attr if isinstance(access, nodes.Getattr) else getattr(access.arg, "value", None)
            if isinstance(key, str):
                getattr(use, access.node.name).add(key)
    return use


def check_internals(tree: nodes.Node) -> None:
    """Raises ValueError for an attribute the sandbox refuses at render time (`''.__class__`,
    `x | attr('__class__')`, `map(attribute='__class__')`): said when the runbook is checked, not
    when a run reaches it."""
    for node in [tree, *tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter))]:
        keys: list[object] = []
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node, nodes.Getitem):
            keys.append(getattr(node.arg, "value", None))
        elif isinstance(node, nodes.Filter):
            named = [k.value for k in node.kwargs if k.key == "attribute"] + (node.args[:1] if node.name == "attr" else [])
            keys += [part for n in named if isinstance(v := getattr(n, "value", None), str) for part in v.split(".")]
        for key in keys:
            if isinstance(key, str) and (key.startswith("__") or key in _INTERNALS):  # `item._id` is an item's field
                raise ValueError(f"{key!r} is one of Python's internals, which a template cannot reach (the sandbox refuses it)")


def shell_variable_hint(template: Template, name: str) -> str:
    """`${HOME}` in an inline template reads a template variable HOME; say how to write the shell's."""
    if template.syntax == "inline" and re.search(r"\$\{\s*" + re.escape(name) + r"\s*\}", template.source):
        return f"; for the shell's variable write ${name} (no braces) or {{% raw %}}${{{name}}}{{% endraw %}}"
    return ""


@lru_cache(maxsize=512)
def _compiled(source: str, syntax: str, in_shell: bool) -> jinja2.Template:
    return ENVIRONMENTS[syntax, in_shell].from_string(inline_source(source) if syntax == "inline" else source)


def _shell_text(value: Any) -> Any:
    """The runbook's [config], as shell text: what its author wrote runs as written (`{config.test_command}`)."""
    if isinstance(value, str):
        return shell.ShellText(value)
    if isinstance(value, dict):
        return {k: _shell_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shell_text(v) for v in value]
    return value


def render(template: Template, context: dict[str, Any]) -> str:
    where = f"{template.origin}: " if template.origin else ""
    try:
        compiled = _compiled(template.source, template.syntax, template.shell)
        if not template.shell:
            return compiled.render(context)
        slots: list[Any] = []
        config = {"config": _shell_text(context["config"])} if "config" in context else {}
        return shell.insert(compiled.render({**context, **config, _SLOTS: slots}), slots)
    except TemplateError as e:
        raise RenderError(f"{where}{e.message or e}") from None
    except shell.ShellError as e:
        raise RenderError(f"{where}{e}") from None


def pipeline_context(pipeline: PipelineDef, inputs: dict[str, Any], config: dict[str, Any], runtime: dict[str, Any] | None = None,
                     fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed's order: the inputs, then the defaults (each may use the inputs and the defaults
    before it), then `config` and the runtime values; under them all, a queue item's `fields`
    (workflows/runbooks/items.py) when a worker runs the pipeline. Raises RenderError for a missing input."""
    missing = [name for name in pipeline.required_inputs() if name not in inputs]
    if missing:
        raise RenderError(f"pipeline {pipeline.name} needs {', '.join(missing)} (inputs: {', '.join(pipeline.inputs)})")
    context: dict[str, Any] = {**(fields or {}), "config": config, **inputs}
    for name, default in pipeline.defaults.items():
        if name not in inputs:
            context[name] = render(default, context)
    return {**context, **(runtime or {})}
