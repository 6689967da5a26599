"""Runbook templates: otters' `{name}` inline, `{{ name }}` in files, Jinja2's sandbox, undefined
variables an error, and the seed's order of context (inputs, defaults, runtime values)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.runbooks.model import GotoPhase, PhaseDef, PipelineDef, RunShell, Template
from workflows.runbooks.templates import RenderError, inspect, pipeline_context, render, shell_variable_hint


def inline(source: str) -> Template:
    return Template(source=source, runbook="build", origin="build.toml: pipeline.build.phase[0] \"init\": run")


def test_variables_nested_values_conditionals_loops_and_filters_render() -> None:
    context = {"name": "auth", "bug": {"id": 7}, "config": {"labels": ["bug", "ui"]}, "draft": True, "files": ["a.py", "b.py"]}
    text = render(inline(
        "{name | upper} fix/{bug.id} [{config.labels | join(', ')}] {missing | default('unknown')}"
        "{% if draft %} (draft){% endif %}{% for f in files %} {f}{% endfor %}"
    ), context)
    assert text == "AUTH fix/7 [bug, ui] unknown (draft) a.py b.py"


def test_an_undefined_variable_is_an_error_naming_the_template_never_empty_text() -> None:
    with pytest.raises(RenderError, match=r'build.toml: pipeline.build.phase\[0\] "init": run: .*nmae.* is undefined'):
        render(inline("echo {nmae}"), {"name": "x"})
    with pytest.raises(RenderError, match="has no attribute 'idd'"):
        render(inline("{bug.idd}"), {"bug": {"id": 1}})


def test_template_files_use_double_braces() -> None:
    template = Template(source="Plan {{ name }} {not-a-variable}\n", syntax="file", runbook="build")
    assert render(template, {"name": "auth"}) == "Plan auth {not-a-variable}\n"


def test_the_sandbox_keeps_python_internals_out_of_reach() -> None:
    for source in ("{ ''.__class__.__mro__ }", "{ name.__class__ }", "{ cycler.__init__.__globals__ }"):
        with pytest.raises(RenderError, match="unsafe|undefined"):
            render(inline(source), {"name": "x"})


def test_quote_makes_a_value_one_shell_word() -> None:
    assert render(inline("git commit -m {msg | quote}"), {"msg": "it's; rm -rf /"}) == "git commit -m 'it'\"'\"'s; rm -rf /'"


def test_inspect_lists_the_variables_outputs_and_config_keys_a_template_reads() -> None:
    use = inspect(inline("{name} {outputs.plan} {outputs['init']} {config.labels} {% for x in xs %}{x}{% endfor %}{% set y = 1 %}{y}"))
    assert use.variables == {"name", "outputs", "config", "xs"}
    assert use.outputs == {"plan", "init"} and use.config == {"labels"}


@pytest.mark.parametrize(("source", "hint"), [
    ("echo {{ name }}", "inline templates write variables as {name}"),
    ("echo {name", "unexpected end of template"),
    ("{% if x %}y", "line 1"),
])
def test_bad_syntax_is_one_line_with_a_hint(source: str, hint: str) -> None:
    with pytest.raises(ValueError, match="template syntax") as raised:
        inspect(inline(source))
    assert hint in str(raised.value) and "\n" not in str(raised.value)


def test_a_literal_brace_goes_in_raw() -> None:
    assert render(inline("awk '{% raw %}{print $1}{% endraw %}' {name}"), {"name": "f"}) == "awk '{print $1}' f"


@pytest.mark.parametrize("source", [
    "wok show {id} --json | jq -r .created_at | xargs -I{} date -d {} +%s",
    "awk '{print $1}' {name}",
    r"find . -name '*.log' -exec rm {} \; && echo {name}",
    "echo ${COUNT:-0} {name} ${#names[@]}",
    "jq '.[] | {id, title}' {name}",
    "f() { echo hi; }; f {name} {1..3} {}",
    "docker inspect -f '{{.State.Running}}' {name}",
])
def test_braces_that_are_not_a_template_stay_as_written_in_shell_and_prompts(source: str) -> None:
    """As otters' interpolation leaves them (issue 26, item 6): only {name}, {name.path}, filters
    and {% %} blocks are templates; the value is still quoted into the command."""
    for in_shell in (False, True):
        template = inline(source).model_copy(update={"shell": in_shell})
        assert inspect(template).variables == ({"id"} if "{id}" in source else {"name"})
        rendered = render(template, {"name": "a b", "id": 7})
        assert rendered == source.replace("{name}", "'a b'" if in_shell else "a b").replace("{id}", "7")


def test_a_group_that_reads_as_a_name_is_a_variable_and_undefined_ones_stay_errors() -> None:
    """`{print}` and `${HOME}` read as names: Orchard's stricter choice holds (an undefined variable is an error)."""
    assert inspect(inline("awk '{print}' {x | default({})}")).variables == {"print", "x"}
    with pytest.raises(RenderError, match="'print' is undefined"):
        render(inline("awk '{print}'"), {})
    assert render(inline("{x | default('}')} {% if x is defined %}{x}{% endif %}"), {}) == "} "


def test_a_shell_variable_in_braces_gets_a_hint() -> None:
    assert "write $HOME" in shell_variable_hint(inline("cd ${HOME}"), "HOME")
    assert shell_variable_hint(inline("cd {HOME}"), "HOME") == ""


def _pipeline(defaults: dict[str, str]) -> PipelineDef:
    phase = PhaseDef(name="a", action=RunShell(command=inline("true")), next=GotoPhase(phase="a"))
    return PipelineDef(ref="build.pipeline.build", name="build", inputs=["name", "reviewer"], phases=[phase],
                       defaults={k: inline(v) for k, v in defaults.items()})


def test_context_is_inputs_then_defaults_using_them_then_runtime_values() -> None:
    pipeline = _pipeline({"reviewer": "nobody", "slug": "{name | lower}-{reviewer}", "branch_name": "feature/{slug}"})
    context = pipeline_context(pipeline, {"name": "Auth"}, {"labels": []}, {"phase": "plan", "workspace": "/w"})
    assert context["slug"] == "auth-nobody" and context["branch_name"] == "feature/auth-nobody"
    assert context["phase"] == "plan" and context["config"] == {"labels": []}
    assert pipeline_context(pipeline, {"name": "Auth", "reviewer": "alice"}, {})["slug"] == "auth-alice"


def test_a_missing_input_is_named() -> None:
    with pytest.raises(RenderError, match="pipeline build needs name"):
        pipeline_context(_pipeline({"reviewer": "x"}), {}, {})


_PLAIN = st.text(alphabet=st.characters(blacklist_characters="{}%#\r", blacklist_categories=("Cs",)), max_size=60)
"""(Jinja2 writes every line ending as \\n.)"""


@settings(max_examples=150, deadline=None)
@given(_PLAIN)
def test_text_without_template_syntax_renders_as_written(text: str) -> None:
    assert render(inline(text), {}) == text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_a_value_is_inserted_as_it_is_and_quote_round_trips_through_the_shell(value: str, other: str) -> None:
    import shlex

    assert render(inline("{v}"), {"v": value}) == value
    assert shlex.split(render(inline("{v | quote} {w | quote}"), {"v": value, "w": other})) == [value, other]
