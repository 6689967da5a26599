"""The syntactic layer: a TOML file read with tomllib into raw tables (raw.py).

A syntax error names the file, line and column; an unknown key names its section, the keys that
are accepted and the nearest one; an unreadable file says why. Entries are read one by one, and
a broken entry is remembered by name, so references to it do not turn into more errors.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from client.runbooks.problems import Problem, did_you_mean, shown
from client.runbooks.raw import ENTRY_MODELS, SECTIONS, Duration, RawAttempt, RawPhase

RUNBOOK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ENTRY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass
class RawRunbook:
    name: str
    path: Path
    file: str
    """The file as problems name it."""
    entries: dict[str, dict[str, Any]] = field(default_factory=lambda: {kind: {} for kind in ENTRY_MODELS if kind != "agent"})
    """By kind (`agent` entries are tasks), then name: the raw model of each entry that was read."""
    phases: dict[str, list[RawPhase | None]] = field(default_factory=dict)
    attempts: dict[str, list[RawAttempt | None]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    broken: set[tuple[str, str]] = field(default_factory=set)
    """(kind, name) of entries that exist but could not be read."""
    partial: set[str] = field(default_factory=set)
    """Pipelines with a phase that could not be read: their graph is not checked (it would miss the phase's edges)."""
    unreadable: bool = False
    problems: list[Problem] = field(default_factory=list)

    def problem(self, place: str, message: str) -> None:
        self.problems.append(Problem(self.file, place, message))

    def defines(self, kind: str, name: str) -> bool:
        return name in self.entries[kind] or (kind, name) in self.broken


def parse_runbook_file(path: str | Path) -> RawRunbook:
    path = Path(path)
    runbook = RawRunbook(name=path.stem, path=path, file=shown(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        runbook.unreadable = True
        runbook.problem("", f"cannot be read as UTF-8 text (byte {e.start})")
        return runbook
    except OSError as e:
        runbook.unreadable = True
        runbook.problem("", f"cannot be read: {e.strerror}")
        return runbook
    return parse_runbook(text, runbook)


def parse_runbook(text: str, runbook: RawRunbook) -> RawRunbook:
    if not RUNBOOK_NAME.fullmatch(runbook.name):
        runbook.problem("", f"{runbook.name!r} cannot name a runbook (references are runbook.kind.name): use letters, digits, _ and -")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        runbook.unreadable = True
        runbook.problem("", f"TOML syntax error: {_toml_message(e)}")
        return runbook
    for section, value in data.items():
        if section not in SECTIONS:
            runbook.problem(section, f"unknown section{did_you_mean(section, SECTIONS)}; sections: {', '.join(SECTIONS)}")
        elif not isinstance(value, dict):
            runbook.problem(section, f"must be a table ([{section}]{'.NAME' if section in ENTRY_MODELS else ''}), not a {_kind(value)}")
        elif section in ENTRY_MODELS:
            for name, entry in value.items():
                _read_entry(runbook, section, name, entry)
        elif section == "config":
            runbook.config = value
        else:
            _read_strings(runbook, section, value)
    return runbook


def _toml_message(e: tomllib.TOMLDecodeError) -> str:
    """tomllib says `Expected '=' after a key in a key/value pair (at line 3, column 5)`; line and column first reads better."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
    return f"line {match[1]}, column {match[2]}: {message}" if match else str(e)


def _kind(value: Any) -> str:
    return {str: "string", int: "number", float: "number", bool: "boolean", list: "list", dict: "table"}.get(type(value), type(value).__name__)


def _read_strings(runbook: RawRunbook, section: str, value: dict[str, Any]) -> None:
    for key, text in value.items():
        if isinstance(text, str):
            getattr(runbook, section)[key] = text
        else:
            runbook.problem(f"{section}.{key}", f"must be a string (a shell command), not a {_kind(text)}")


def _read_entry(runbook: RawRunbook, section: str, name: str, entry: Any) -> None:
    kind = "task" if section == "agent" else section
    place = f"{section}.{name}"
    if runbook.defines(kind, name):
        other = "agent" if section == "task" else "task"
        runbook.problem(place, f"{other}.{name} is defined too: tasks and agents share one set of names")
        return
    if not ENTRY_NAME.fullmatch(name):
        runbook.problem(place, f"{name!r} cannot name a {section}: use letters, digits, _ and -")
    if not isinstance(entry, dict):
        runbook.broken.add((kind, name))
        runbook.problem(place, f"must be a table, not a {_kind(entry)}")
        return
    model = ENTRY_MODELS[section]
    parsed = _validated(runbook, model, entry, place)
    if parsed is None:
        runbook.broken.add((kind, name))
    else:
        runbook.entries[kind][name] = parsed
    if section == "pipeline":
        runbook.phases[name] = [_read_item(runbook, RawPhase, raw, f"{place}.phase[{i}]") for i, raw in enumerate(entry.get("phase", []))]
    elif section == "strategy":
        runbook.attempts[name] = [_read_item(runbook, RawAttempt, raw, f"{place}.attempt[{i}]") for i, raw in enumerate(entry.get("attempt", []))]


def _read_item(runbook: RawRunbook, model: type[BaseModel], raw: Any, place: str) -> Any:
    if not isinstance(raw, dict):
        runbook.problem(place, f"must be a table, not a {_kind(raw)}")
        return None
    name = raw.get("name")
    return _validated(runbook, model, raw, f"{place} {name!r}".replace("'", '"') if isinstance(name, str) else place)


def _validated(runbook: RawRunbook, model: type[BaseModel], data: dict[str, Any], place: str) -> Any:
    items = {k: v for k, v in data.items() if k not in ("phase", "attempt")} if model in (ENTRY_MODELS["pipeline"], ENTRY_MODELS["strategy"]) else data
    try:
        return model.model_validate(items)
    except ValidationError as e:
        errors = e.errors()
        # `conditon = ...` is one mistake: the unknown key says it, so the missing `condition` goes unsaid.
        misspelt = {_near(model, err) for err in errors if err["type"] == "extra_forbidden"}
        said: set[str] = set()
        for error in errors:
            message = _message(model, error)
            if message not in said and not (error["type"] == "missing" and tuple(map(str, error["loc"])) in misspelt):
                said.add(message)
                runbook.problem(place, message)
        return None


def _near(model: type[BaseModel], error: Any) -> tuple[str, ...]:
    loc = [str(p) for p in error["loc"]]
    close = difflib.get_close_matches(loc[-1], _accepted(model, loc[:-1]), n=1, cutoff=0.6)
    return (*loc[:-1], close[0]) if close else ()


_TYPE_TAG = re.compile(r"^(str|int|float|bool|dict\[.*\]|list\[.*\]|Raw\w+)$")


def _message(model: type[BaseModel], error: Any) -> str:
    """One line for a pydantic error; the members of a union (`run`: a string or a table) are said once."""
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
    got = f"a {_kind(value)}" if isinstance(value, (dict, list)) else f"{_kind(value)} {json.dumps(value, default=str)}"
    if len(loc) < len(parts) or error["type"].endswith(("_type", "_parsing")):
        field = _field_annotation(model, loc)
        return f"{key}: must be {_expected(field)}, not {got}"
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]}, not {got}"


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
    if annotation in (Duration, Duration | None):
        return "a duration (30s, 5m, 1h30m) or a number of seconds"
    names = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false", "dict": "a table", "list": "a list"}
    said = []
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]:
        if arg is type(None):
            continue
        origin = typing.get_origin(arg) or arg
        word = names.get(getattr(origin, "__name__", ""), "a table")
        if word not in said:
            said.append(word)
    return " or ".join(said) or "something else"


def _accepted(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys accepted at `path` inside `model` (following nested models)."""
    current: Any = model
    for part in path:
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            break
        current = _nested_model(fields[part].annotation)
    return [name for name in getattr(current, "model_fields", {}) if name not in ("phase", "attempt")] + (
        ["phase"] if current is ENTRY_MODELS["pipeline"] else ["attempt"] if current is ENTRY_MODELS["strategy"] else [])


def _nested_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None
