"""How the runbook models (model.py) read a runbook's TOML.

The client validates each table with `Model.model_validate(table, strict=True, context=Reading(...))`.
Every validator that turns otters' spelling into the runtime value (a duration into seconds, a
name into a reference, a string into a template) does so only when the context is a `Reading`;
without one (a workflow's input, a recorded history) the models validate their own serialized
form, as any pydantic model does.

A problem is a pydantic error: `problem("...")` one line as the user reads it, or pydantic's own
(`missing`, `extra_forbidden`, a wrong type), which the client words with the key it names. A
validator that finds several says them all (`Said`), so one validation reports every problem of
its table.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

PROBLEM = "runbook"
"""The type of a pydantic error whose message is said as it is (`ctx["message"]`)."""


@dataclass
class Reading:
    """What a table's validators know beyond the table: pydantic's validation context."""
    runbook: str
    """The runbook's name: references are qualified with it (`planning` -> `build.task.planning`)."""
    file: str = ""
    """The file as problems name it; templates remember it in their origin."""
    defined: dict[str, set[str]] = field(default_factory=dict)
    """The names each section of the file gives (tasks and agents as `task`), read or not."""
    functions: Collection[str] = ()
    """The names of `[functions]`, which a queue's filter may call."""
    plugins: Collection[str] = ()
    """The agent plugins a task may name."""
    read_prompt_file: Callable[[str], tuple[str, str]] | None = None
    """A task's `prompt_file`: (its text, its path); raises ValueError saying why not."""
    place: str = ""
    """The table being read, as problems name it: `pipeline.build.phase[2] "verify"`."""
    entry: str = ""
    """The name of the section's entry being read (`[pipeline.build]`: build)."""
    phases: Collection[str] = ()
    """For a phase: the names of its pipeline's phases (`next` and `on_fail` name them first)."""
    following: str | None = None
    """For a phase: the phase written after it, where it goes without a `next`."""
    keys: list[str] = field(default_factory=list)
    """The key being read inside the table (`dead`, `on_add`): what a template's origin and a problem say."""

    def at(self, place: str, **changes: Any) -> Reading:
        """This reading, for another table."""
        return replace(self, place=place, keys=list(changes.pop("keys", [])), **changes)

    def key(self, *more: str) -> str:
        return ".".join([*self.keys, *more])

    def defines(self, kind: str, name: str) -> bool:
        return name in self.defined.get(kind, ())

    @contextmanager
    def within(self, key: str) -> Iterator[None]:
        self.keys.append(key)
        try:
            yield
        finally:
            self.keys.pop()


def reading(info: ValidationInfo) -> Reading | None:
    """The Reading a validation runs with, or None when it validates a serialized model."""
    context = info.context
    return context if isinstance(context, Reading) else None


def problem(message: str) -> PydanticCustomError:
    return PydanticCustomError(PROBLEM, "{message}", {"message": message})


class Said:
    """The problems of one validation, all raised at once (`raise_if_any`)."""

    def __init__(self) -> None:
        self.errors: list[InitErrorDetails] = []
        self.spoken: set[str] = set()
        """Fields whose problem was said already: pydantic's own problem with them goes unsaid."""

    def __bool__(self) -> bool:
        return bool(self.errors)

    def say(self, message: str) -> None:
        self.errors.append(InitErrorDetails(type=problem(message), loc=(), input=None))

    def unknown(self, key: str, value: Any) -> None:
        self.errors.append(InitErrorDetails(type="extra_forbidden", loc=(key,), input=value))

    def missing(self, key: str, table: Any) -> None:
        self.errors.append(InitErrorDetails(type="missing", loc=(key,), input=table))

    def spoke(self, field: str) -> None:
        self.spoken.add(field)

    def add(self, error: Exception) -> None:
        """What a validator raised: a PydanticCustomError, or a ValidationError (pydantic's own
        problem with a field that was spoken for goes unsaid)."""
        if isinstance(error, ValidationError):
            for e in error.errors():
                if e["loc"][:1] and e["loc"][0] in self.spoken:
                    continue
                kind = problem(e["ctx"]["message"]) if e["type"] == PROBLEM else e["type"]
                details = InitErrorDetails(type=kind, loc=e["loc"], input=e["input"])
                if "ctx" in e and e["type"] != PROBLEM:
                    details["ctx"] = e["ctx"]
                self.errors.append(details)
        else:
            assert isinstance(error, PydanticCustomError)
            self.errors.append(InitErrorDetails(type=error, loc=(), input=None))

    def attempt(self, convert: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """`convert(*args)`, or `default` with its problems said."""
        try:
            return convert(*args)
        except (PydanticCustomError, ValidationError) as e:
            self.add(e)
            return default

    def error(self) -> Exception:
        if len(self.errors) == 1 and self.errors[0]["loc"] == () and isinstance(self.errors[0]["type"], PydanticCustomError):
            return self.errors[0]["type"]
        return ValidationError.from_exception_data("runbook", self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise self.error()


def problems(messages: list[str]) -> Exception:
    said = Said()
    for message in messages:
        said.say(message)
    return said.error()


def kind_of(value: Any) -> str:
    """A TOML value's kind, as problems say it."""
    return {str: "string", int: "number", float: "number", bool: "boolean", list: "list", dict: "table"}.get(type(value), type(value).__name__)


def got(value: Any) -> str:
    """What was written instead: `a table`, `string "2"`, `boolean true`."""
    return f"a {kind_of(value)}" if isinstance(value, (dict, list)) else f"{kind_of(value)} {json.dumps(value, default=str)}"


def wrong_type(key: str, expected: str, value: Any) -> PydanticCustomError:
    return problem(f"{key}: must be {expected}, not {got(value)}")


def did_you_mean(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
