"""Reading a file: TOML read with tomllib, each table validated into its model, both of otters' spellings, one line per problem."""

from __future__ import annotations

from pathlib import Path

from client.runbooks.parser import parse_runbook_file
from workflows.runbooks import model as m

SEED_SPELLING = '''
[pipeline.fix]
inputs = ["bug"]
[[pipeline.fix.phase]]
name = "fix"
task = "fix_task"
next = "merge"
[[pipeline.fix.phase]]
name = "merge"
strategy = "merge"
[task.fix_task]
command = "claude --print"
prompt = "Fix {bug.id}"
[strategy.merge]
[[strategy.merge.attempt]]
name = "ff"
run = "git merge --ff-only FETCH_HEAD"
'''

NEWER_SPELLING = '''
[command.build]
args = "<name> <prompt>"
run = { pipeline = "build" }
[pipeline.build]
inputs = ["name", "prompt"]
[[pipeline.build.phase]]
name = "plan"
run = { agent = "planning" }
[[pipeline.build.phase]]
name = "merge"
run = { strategy = "merge" }
[agent.planning]
run = "claude --print"
prompt = "Plan {name}"
'''


def _parse(tmp_path: Path, text: str, name: str = "book.toml"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return parse_runbook_file(path)


def test_both_spellings_read_into_the_same_tables(tmp_path: Path) -> None:
    seed = _parse(tmp_path, SEED_SPELLING, "seed.toml")
    newer = _parse(tmp_path, NEWER_SPELLING, "newer.toml")
    assert not seed.problems and not newer.problems and seed.runbook and newer.runbook
    assert [p.action for p in seed.runbook.pipelines["fix"].phases] == [m.RunTask(task="seed.task.fix_task"), m.RunChain(strategy="seed.strategy.merge")]
    assert [p.action for p in newer.runbook.pipelines["build"].phases] == [m.RunTask(task="newer.task.planning"), m.RunChain(strategy="newer.strategy.merge")]
    fix_task, planning = seed.runbook.tasks["fix_task"], newer.runbook.tasks["planning"]
    assert fix_task.command and fix_task.command.source == "claude --print" and planning.command and planning.command.source == "claude --print"
    assert seed.name == "seed" and newer.runbook.commands["build"].action == m.RunPipeline(pipeline="newer.pipeline.build")


def test_a_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    book = _parse(tmp_path, '[task.x]\nprompt = "a"\nmodel = \n')
    assert book.unreadable and [str(p) for p in book.problems] == [f"{book.file}: TOML syntax error: line 3, column 9: Invalid value"]


def test_an_unknown_key_names_its_section_the_accepted_keys_and_the_nearest(tmp_path: Path) -> None:
    book = _parse(tmp_path, '[guard.g]\ncondition = "true"\nretry = { max = 1, intervall = "1s" }\ntimout = "5m"\n')
    assert sorted(p.message for p in book.problems) == [
        "retry: unknown key 'intervall' (did you mean 'interval'?); accepted: max, interval",
        "unknown key 'timout' (did you mean 'timeout'?); accepted: condition, timeout, on_timeout, retry, wake_on",
    ]
    assert {p.place for p in book.problems} == {"guard.g"} and book.defines("guard", "g") and book.runbook and "g" not in book.runbook.guards


def test_wrong_types_and_missing_keys_say_what_is_expected(tmp_path: Path) -> None:
    book = _parse(tmp_path, '[worker.w]\nqueue = 3\nconcurrency = "2"\n[[pipeline.p.phase]]\nname = "a"\ntimeout = true\n')
    assert sorted(str(p).split(": ", 1)[1] for p in book.problems) == [
        "pipeline.p.phase[0] \"a\": timeout: must be a duration (30s, 5m, 1h30m) or a number of seconds, not boolean true",
        "worker.w: concurrency: must be a whole number, not string \"2\"",
        "worker.w: missing key 'handler'",
        "worker.w: queue: must be a string, not number 3",
    ]


def test_unknown_sections_tasks_named_twice_and_unreadable_files(tmp_path: Path) -> None:
    book = _parse(tmp_path, '[scanner.x]\na = 1\n[task.a]\nprompt = "x"\n[agent.a]\nprompt = "y"\n[functions]\nf = 3\n')
    assert sorted(p.message for p in book.problems) == [
        "[scanner.NAME] is otters' oldest draft: write [monitor.NAME] (source, condition, run) and list it in a [cron.NAME]'s monitors",
        "must be a string (a shell command), not a number",
        "task.a is defined too: tasks and agents share one set of names",
    ]
    assert [str(p).split(": ", 1)[1] for p in _parse(tmp_path, b"\xff\xfe", "binary.toml").problems] == ["cannot be read as UTF-8 text (byte 0)"]
    assert parse_runbook_file(tmp_path / "gone.toml").problems[0].message == "cannot be read: No such file or directory"
    assert "cannot name a runbook" in _parse(tmp_path, "[task.x]\nprompt = 3\n", "build.task.toml").problems[0].message
    assert [p.message for p in _parse(tmp_path, "[task.x]\nprompt = 3\n", "build.task.toml").problems] == [  # said once: nothing else is read
        "'build.task' cannot name a runbook (references are runbook.kind.name): use letters, digits, _ and -, and dots between words that "
        "are not a kind (build.minimal, not build.task)"]
    assert _parse(tmp_path, "", "build.minimal.toml").problems == []  # otters' build.minimal.toml: the runbook build.minimal


def test_phases_and_attempts_that_are_not_tables_are_problems_not_tracebacks(tmp_path: Path) -> None:
    book = _parse(tmp_path, '[pipeline.p]\ninputs = []\nphase = 3\n[strategy.s]\nattempt = ["x"]\n')
    assert sorted(str(p).split(": ", 1)[1] for p in book.problems) == [
        "pipeline.p: phase: must be a list of tables ([[pipeline.p.phase]]), not number 3",
        "strategy.s.attempt[0]: must be a table, not a string",
    ]
    assert book.runbook and not book.runbook.pipelines and not book.runbook.strategies and book.defines("pipeline", "p")
