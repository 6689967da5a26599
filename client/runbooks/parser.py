"""Reading a runbook file: TOML read with tomllib, each table validated straight into its model
(workflows/runbooks/model.py) with a Reading as pydantic's context.

A syntax error names the file, line and column; an unknown section or key names the ones that are
accepted and the nearest; an unreadable file says why. Each entry of a section is validated on its
own, and in a pipeline or a strategy chain each phase or attempt too, so one broken table hides no
problem of another. An entry that could not be read is still `defined`: references to it do not
turn into more problems.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from activities.agents import PLUGINS
from client.runbooks.problems import Problem, did_you_mean, shown
from workflows.runbooks import model as m
from workflows.runbooks.reading import PROBLEM, got, kind_of

RUNBOOK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
"""A runbook is named after its file: `build.minimal.toml` is `build.minimal` (references read it from the right)."""
ENTRY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass
class RunbookFile:
    name: str
    path: Path
    file: str
    """The file as problems name it."""
    runbook: m.Runbook | None = None
    """What could be read of it: every entry that validated (None for a file that could not be read)."""
    defined: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in m._TABLES})
    """By kind (`agent` entries are tasks): the name of every entry the file gives, read or not."""
    partial: dict[str, list[str]] = field(default_factory=dict)
    """Pipelines with a phase that could not be read, with the name of every phase as written ("" for
    none): `next` and `on_fail` may name any of them; reachability and cycles are not checked (they
    would miss the unread phase's edges)."""
    written_at: dict[str, list[int]] = field(default_factory=dict)
    """For such a pipeline, the index as written of each phase that was read."""
    unreadable: bool = False
    problems: list[Problem] = field(default_factory=list)

    def problem(self, place: str, message: str) -> None:
        self.problems.append(Problem(self.file, place, message))

    def defines(self, kind: str, name: str) -> bool:
        return name in self.defined[kind]

    def phase_place(self, pipeline: str, index: int, name: str) -> str:
        """Where problems name the `index`th phase the pipeline has (as written, if some could not be read)."""
        written = self.written_at.get(pipeline)
        return item_place(f"pipeline.{pipeline}", "phase", written[index] if written else index, name)


def item_place(place: str, key: str, index: int, name: str | None) -> str:
    """`pipeline.build.phase[2] "verify"`."""
    return f'{place}.{key}[{index}]' + (f' "{name}"' if name is not None else "")


def parse_runbook_file(path: str | Path) -> RunbookFile:
    path = Path(path)
    book = RunbookFile(name=path.stem, path=path, file=shown(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        book.unreadable = True
        book.problem("", f"cannot be read as UTF-8 text (byte {e.start})")
        return book
    except OSError as e:
        book.unreadable = True
        book.problem("", f"cannot be read: {e.strerror}")
        return book
    return parse_runbook(text, book)


def parse_runbook(text: str, book: RunbookFile) -> RunbookFile:
    if not RUNBOOK_NAME.fullmatch(book.name) or any(part in m.KIND_WORDS for part in book.name.split(".")[1:]):
        book.problem("", f"{book.name!r} cannot name a runbook (references are runbook.kind.name): use letters, digits, _ and -, "
                         "and dots between words that are not a kind (build.minimal, not build.task)")
        book.unreadable = True
        return book
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        book.unreadable = True
        book.problem("", f"TOML syntax error: {_toml_message(e)}")
        return book
    sections: dict[str, dict[str, Any]] = {}
    for section, value in data.items():
        if section in m.OLDER_SECTIONS:
            book.problem(section, m.OLDER_SECTIONS[section])
        elif section not in m.SECTIONS:
            book.problem(section, f"unknown section{did_you_mean(section, m.SECTIONS)}; sections: {', '.join(m.SECTIONS)}")
        elif not isinstance(value, dict):
            book.problem(section, f"must be a table ([{section}]{'.NAME' if section in m.ENTRIES else ''}), not a {kind_of(value)}")
        else:
            sections[section] = value
    entries = _named_entries(book, sections)
    functions = _strings(book, "functions", sections.get("functions", {}))
    reading = m.Reading(runbook=book.name, file=book.file, defined=book.defined, functions=set(functions), plugins=PLUGINS,
                        read_prompt_file=lambda relative: _prompt_file(book.path, relative))
    tables: dict[str, dict[str, Any]] = {kind: {} for kind in m._TABLES}
    for section, name, entry in entries:
        kind = "task" if section == "agent" else section
        read = _read_entry(book, m.ENTRIES[section], entry, reading.at(f"{kind}.{name}", entry=name), f"{section}.{name}")
        if read is not None:
            tables[kind][name] = read
    shell_functions = {}
    for name, source in functions.items():
        try:
            shell_functions[name] = m.template(source, reading.at("functions"), name)
        except PydanticCustomError as e:
            book.problem("functions", e.message())
    events = _validated(book, m.RunbookEvents, _strings(book, "events", sections.get("events", {})), reading.at("events"))
    safety = _validated(book, m.Safety, sections.get("safety", {}), reading.at("safety"))
    book.runbook = m.Runbook(name=book.name, path=str(book.path), config=sections.get("config", {}), functions=shell_functions,
                             events=events or m.RunbookEvents(), safety=safety or m.Safety(), **{m._TABLES[kind]: table for kind, table in tables.items()})
    return book


def _named_entries(book: RunbookFile, sections: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every entry as (section, name, table), its name `defined` first: a reference may name any
    entry of the file, read or not."""
    found = []
    for section, value in sections.items():
        if section not in m.ENTRIES:
            continue
        kind = "task" if section == "agent" else section
        for name, entry in value.items():
            place = f"{section}.{name}"
            if book.defines(kind, name):
                book.problem(place, f"{'agent' if section == 'task' else 'task'}.{name} is defined too: tasks and agents share one set of names")
                continue
            book.defined[kind].add(name)
            if not ENTRY_NAME.fullmatch(name):
                book.problem(place, f"{name!r} cannot name a {section}: use letters, digits, _ and -")
            if not isinstance(entry, dict):
                book.problem(place, f"must be a table, not a {kind_of(entry)}")
                continue
            found.append((section, name, entry))
    return found


def _read_entry(book: RunbookFile, model: type[m._Entry], entry: dict[str, Any], reading: m.Reading, place: str) -> Any:
    """One entry, its problems said at `place`; a pipeline's phases and a chain's attempts are read one by one first."""
    if model is m.PipelineDef:
        phases = _read_items(book, m.PhaseDef, entry, "phase", reading)
        pipeline = _validated(book, model, {**entry, "phase": phases}, reading, place) if phases is not None else None
        if pipeline is not None and phases is not None and None in phases:
            book.partial[reading.entry] = [_name(p) or "" for p in entry["phase"]]
            book.written_at[reading.entry] = [index for index, phase in enumerate(phases) if phase is not None]
        return pipeline
    if model is m.ChainDef:
        attempts = _read_items(book, m.ChainAttemptDef, entry, "attempt", reading)
        chain = _validated(book, model, {**entry, "attempt": attempts}, reading, place) if attempts is not None else None
        return chain if attempts is not None and None not in attempts else None  # a chain missing an attempt would run otherwise
    return _validated(book, model, entry, reading, place)


def _read_items(book: RunbookFile, model: type[BaseModel], entry: dict[str, Any], key: str, reading: m.Reading) -> list[Any] | None:
    """The `[[pipeline.NAME.phase]]` (or attempt) tables of an entry, each validated on its own:
    None for one that could not be read. More phases than a pipeline holds are not read (the
    pipeline says so): checking thousands would take long for nothing."""
    items = entry.get(key, [])
    if not isinstance(items, list):
        book.problem(reading.place, f"{key}: must be a list of tables ([[{reading.place}.{key}]]), not {got(items)}")
        return None
    if key == "phase" and len(items) > m.MAX_PHASES:
        return [None] * len(items)
    names = [_name(item) for item in items]
    read: list[Any] = []
    for index, item in enumerate(items):
        place = item_place(reading.place, key, index, names[index])
        if not isinstance(item, dict):
            book.problem(place, f"must be a table, not a {kind_of(item)}")
            read.append(None)
            continue
        siblings = {"phases": {n for n in names if n is not None}, "following": names[index + 1] if index + 1 < len(names) else None} if key == "phase" else {}
        read.append(_validated(book, model, item, reading.at(place, **siblings)))
    return read


def _name(item: Any) -> str | None:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) else None


def _validated(book: RunbookFile, model: type[BaseModel], data: dict[str, Any], reading: m.Reading, place: str | None = None) -> Any:
    """`data` validated into `model`, or None with its problems said (strict: TOML values are typed
    already, so "3" never becomes a number, nor true a duration). pydantic's own problems (a key
    unknown, missing or of another type) are said at `place`, as written (`agent.x`); the model's
    at the reading's (`task.x`), where its templates say they are."""
    try:
        return model.model_validate(data, strict=True, context=reading)
    except ValidationError as e:
        for own, message in _messages(model, e):
            book.problem(reading.place if own else place or reading.place, message)
        return None


def _strings(book: RunbookFile, section: str, value: dict[str, Any]) -> dict[str, str]:
    """`[functions]` and `[events]`: tables of shell commands."""
    for key, text in value.items():
        if not isinstance(text, str):
            book.problem(f"{section}.{key}", f"must be a string (a shell command), not a {kind_of(text)}")
    return {key: text for key, text in value.items() if isinstance(text, str)}


def _prompt_file(runbook: Path, relative: str) -> tuple[str, str]:
    """A task's prompt_file: relative to the runbook's folder and inside it (links followed: a link
    out of it is refused too)."""
    folder = runbook.parent.resolve()
    path = runbook.parent / relative
    if not path.resolve().is_relative_to(folder):
        raise ValueError(f"prompt_file {relative!r} is outside the runbooks' folder {folder}: a prompt file lies in it (e.g. prompts/plan.md)")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ValueError(f"prompt_file {relative!r}: cannot read {path}: {reason}") from None


def _toml_message(e: tomllib.TOMLDecodeError) -> str:
    """tomllib says `Expected '=' after a key in a key/value pair (at line 3, column 5)`; line and column first reads better."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
    return f"line {match[1]}, column {match[2]}: {message}" if match else str(e)


# -- pydantic's errors as problems ---------------------------------------------------------------

def _messages(model: type[BaseModel], error: ValidationError) -> list[tuple[bool, str]]:
    """One line per problem, and whether the model said it. `conditon = ...` is one mistake: the
    unknown key says it, so the missing `condition` goes unsaid."""
    errors = error.errors()
    misspelt = {_near(model, e) for e in errors if e["type"] == "extra_forbidden"}
    said: list[tuple[bool, str]] = []
    for e in errors:
        own = e["type"] == PROBLEM
        message = e["ctx"]["message"] if own else _message(model, e)
        if (own, message) not in said and not (e["type"] == "missing" and tuple(map(str, e["loc"])) in misspelt):
            said.append((own, message))
    return said


def _near(model: type[BaseModel], error: Any) -> tuple[str, ...]:
    loc = [str(p) for p in error["loc"]]
    close = difflib.get_close_matches(loc[-1], _accepted(model, loc[:-1]), n=1, cutoff=0.6)
    return (*loc[:-1], close[0]) if close else ()


_TYPE_TAG = re.compile(r"^(str|int|float|bool|dict\[.*\]|list\[.*\]|function-.*)$")


def _message(model: type[BaseModel], error: Any) -> str:
    """pydantic's own problem with a key: unknown, missing, or of another type."""
    parts = [p for p in error["loc"] if not isinstance(p, int)]
    loc = [str(p) for p in parts if not _TYPE_TAG.match(str(p))]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        accepted = _accepted(model, loc[:-1])
        inside = f"{'.'.join(loc[:-1])}: " if len(loc) > 1 else ""
        return f"{inside}unknown key {loc[-1]!r}{did_you_mean(loc[-1], accepted)}; accepted: {', '.join(accepted)}"
    if error["type"] == "missing":
        return f"missing key {key!r}"
    value = error.get("input")
    if len(loc) < len(parts) or error["type"].endswith(("_type", "_parsing")):
        return f"{key}: must be {_expected(_field_annotation(model, loc))}, not {got(value)}"
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]}, not {got(value)}"


def _field_annotation(model: type[BaseModel], loc: list[str]) -> Any:
    current: Any = model
    annotation: Any = None
    for part in loc:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return annotation
        annotation = fields[part].annotation
        current = _nested_model(annotation)
    return annotation


def _expected(annotation: Any) -> str:
    names = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false", "dict": "a table", "list": "a list"}
    said = []
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]:
        if typing.get_origin(arg) is typing.Annotated:
            arg = typing.get_args(arg)[0]
        if arg is type(None):
            continue
        origin = typing.get_origin(arg) or arg
        word = names.get(getattr(origin, "__name__", ""), "a table")
        if word not in said:
            said.append(word)
    return " or ".join(said) or "something else"


def _accepted(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys the TOML table at `path` inside `model` takes (following nested tables)."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            break
        current = _nested_model(fields[part].annotation)
    return list(getattr(current, "KEYS", ()) or getattr(current, "model_fields", {}))


def _nested_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None
