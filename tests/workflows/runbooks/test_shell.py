"""Values in shell commands are data: run by bash, a command prints each value as it was given,
whatever it holds, and nothing in it runs (issue 24, item 5)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.runbooks.model import GuardDef, RunShell, TaskDef, Template
from workflows.runbooks.templates import RenderError, render


def shell(source: str) -> Template:
    """A template as a shell field holds it (a phase's `run`)."""
    return RunShell(command=Template(source=source, runbook="ops", origin="ops.toml: pipeline.p.phase[0] \"a\": run")).command


def bash(command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()  # bytes as bash wrote them (text=True would turn \r into \n)


HOSTILE = [
    "$(touch pwned)", "`touch pwned`", "x; touch pwned", "x | touch pwned", "x\ntouch pwned", "x && touch pwned",
    "it's'; touch pwned; '", 'say "hi"; touch pwned; "', "a b  c", "$HOME ${HOME} \\$(touch pwned)", "", "-n",
    "EOF\ntouch pwned", "'$(touch pwned)'", "\"$(touch pwned)\"", "\\", "x\\", "*", "#x\ntouch pwned",
]
CONTEXTS = {
    "bare": "printf '%s\\0' {v}",
    "single quotes": "printf '%s\\0' 'before {v} after'",
    "double quotes": "printf '%s\\0' \"before {v} after\"",
    "ansi-c": "printf '%s\\0' $'before {v} after'",
    "command substitution": "printf '%s\\0' \"$(printf '%s' {v})\"",
    "here-document": "cat <<EOF\n{v}\nEOF\nprintf '\\0'",
    "quoted here-document": "cat <<'EOF'\n{v}\nEOF\nprintf '\\0'",
    "here-string": "cat <<< {v}; printf '\\0'",
    "loop": "{% for w in [v] %}printf '%s\\0' {w}; {% endfor %}",
}
EXPECTED = {
    "bare": "{v}", "single quotes": "before {v} after", "double quotes": "before {v} after", "ansi-c": "before {v} after",
    "command substitution": "{v}", "here-document": "{v}\n", "quoted here-document": "{v}\n", "here-string": "{v}\n", "loop": "{v}",
}


@pytest.mark.parametrize("where", CONTEXTS)
@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_runs_nothing_and_arrives_as_written_wherever_it_stands(where: str, value: str, tmp_path: Path) -> None:
    try:
        command = render(shell(CONTEXTS[where]), {"v": value})
    except RenderError as e:  # a here-document's own delimiter line is the one value refused there
        assert "here-document" in where and "EOF" in value.splitlines() and "would end the here-document" in str(e)
        return
    printed = bash(command, tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert printed == EXPECTED[where].replace("{v}", value) + "\0"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30))
def test_any_text_arrives_as_written_in_every_quoting(value: str) -> None:
    source = "; ".join(f"printf '%s\\0' {CONTEXTS[w].split(' ', 2)[2]}" for w in ("bare", "single quotes", "double quotes", "ansi-c"))
    printed = bash(render(shell(source), {"v": value}))
    assert printed.split("\0")[:4] == [value, *[f"before {value} after"] * 3]


def test_quote_keeps_working_as_one_word_never_quoted_twice(tmp_path: Path) -> None:
    msg = "it's; rm -rf /"
    quoted = f"git commit -m {shlex.quote(msg)}"
    assert render(shell("git commit -m {msg | quote}"), {"msg": msg}) == render(shell("git commit -m {msg}"), {"msg": msg}) == quoted
    files = ["a b.txt", "$(touch pwned)", "c"]
    command = render(shell("printf '%s\\0' {files | map('quote') | join(' ')}"), {"files": files})
    assert bash(command, tmp_path).split("\0")[:-1] == files and not (tmp_path / "pwned").exists()  # still three words
    assert bash(render(shell("echo \"{msg | quote}\""), {"msg": "$(touch pwned)"}), tmp_path) == "$(touch pwned)\n"  # quoted for where it stands


def test_raw_opts_out_and_config_is_the_runbook_s_own_shell_text(tmp_path: Path) -> None:
    context = {"flags": "-l -a", "config": {"test_command": "printf '%s|' made tested", "labels": ["x", "y"]}}
    assert render(shell("ls {flags | raw}"), context) == "ls -l -a"
    assert render(shell("ls {flags}"), context) == "ls '-l -a'"
    assert bash(render(shell("{config.test_command}"), context), tmp_path) == "made|tested|"
    assert render(shell("echo {config.labels | join(' ')}"), context) == "echo x y"


def test_prompts_and_other_fields_that_are_not_shell_take_values_as_they_are() -> None:
    task = TaskDef(ref="ops.task.t", name="t", prompt=Template(source="Fix {title}", runbook="ops"), env={"T": Template(source="{title}", runbook="ops")},
                   command=Template(source="agent --title {title}", runbook="ops"))
    title = "$(touch pwned) it's"
    assert render(task.prompt, {"title": title}) == f"Fix {title}" and render(task.env["T"], {"title": title}) == title
    assert render(task.command, {"title": title}) == f"agent --title {shlex.quote(title)}"  # the agent's command line is bash's
    assert render(Template(source="{title | quote}", runbook="ops"), {"title": "a b"}) == "'a b'"


@pytest.mark.parametrize(("source", "value", "says"), [
    ("echo ${v}", "x", "right after `$`"),
    ('echo "{% raw %}${X:-{% endraw %}{v}{% raw %}}{% endraw %}"', "x", "inside ${...}"),
    ("echo `echo {v}`", "x", "inside `...`"),
    ("echo $(( {v} + 1 ))", "a[$(touch pwned)]", "only a whole number is safe"),
    ("[[ 1 -eq {v} ]]", "a[$(touch pwned)]", "could run a command through bash's arithmetic"),
    ("echo x # {v}", "a\ntouch pwned", "cannot stand in a # comment"),
    ("cat <<EOF\n{v}\nEOF", "x\nEOF\ntouch pwned", "would end the here-document"),
    ("cat <<{v}\nx\n", "EOF", "here-document's delimiter"),
    ("echo \\{v}", "x", "right after a backslash"),
    ("echo '{v}", "x", "do not close"),
])
def test_a_value_where_no_quoting_holds_is_refused_in_one_line(source: str, value: str, says: str) -> None:
    with pytest.raises(RenderError, match=r'^ops.toml: pipeline.p.phase\[0\] "a": run: ') as raised:
        render(shell(source), {"v": value})
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_a_number_in_arithmetic_and_a_plain_word_in_a_test_are_fine(tmp_path: Path) -> None:
    assert bash(render(shell("echo $(( {n} + 1 )); [[ {w} == main ]] && echo same"), {"n": 41, "w": "main"}), tmp_path) == "42\nsame\n"


def test_every_shell_field_quotes_and_no_other_does() -> None:
    guard = GuardDef(ref="ops.guard.g", name="g", condition=Template(source="test -f {f}", runbook="ops"), wake_on=[Template(source="x:{f}", runbook="ops")])
    assert guard.condition.shell and not guard.wake_on[0].shell
    assert render(guard.condition, {"f": "a b"}) == "test -f 'a b'" and render(guard.wake_on[0], {"f": "a b"}) == "x:a b"
