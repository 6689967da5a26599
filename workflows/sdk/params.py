"""Strategy parameters as the CLI and orchard.yaml give them: `-S key=value` text made typed, and
the fields whose value names a file the client reads."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

FROM_FILE: dict[str, Any] = {"from_file": True}
"""Metadata of a config field whose `-S` value names a file: the client reads it (YAML or JSON)
and passes its content, since workflows cannot read files. Any non-text field also takes
`-S key=@path`. Example: `pages_file: list[Page] = field(default_factory=list, metadata=FROM_FILE)`."""


def reads_file(config_field: dataclasses.Field[Any]) -> bool:
    """True for a config field declared with `metadata=FROM_FILE`."""
    return bool(config_field.metadata.get("from_file"))


def is_text_type(tp: Any) -> bool:
    """True for `str` and `str | None`: values of such fields are taken as written."""
    if tp is str:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)] == [str]
    return False


def value_types(tp: Any) -> set[Any] | None:
    """The types a field's value may have at its top level (a union's members, a Literal's values'
    types, `list` for `list[str]`); None when it takes anything."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return value_types(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        found: set[Any] = set()
        for arg in typing.get_args(tp):
            inner = value_types(arg)
            if inner is None:
                return None
            found |= inner
        return found
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(tp)}
    if origin is not None:
        return {origin}
    return {tp} if isinstance(tp, type) and tp is not object else None


def takes(kinds: set[Any], value: Any) -> bool:
    """Whether a field of these top-level types takes `value` as it is (a bool is no number here)."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int):
        return bool({int, float} & kinds)
    if isinstance(value, float):
        return float in kinds
    if value is None:
        return type(None) in kinds
    return True  # lists and mappings: the config's validation checks them


def parse_param_value(raw: Any, field_type: Any) -> Any:
    """A `-S key=value` string becomes a typed value: ints, floats, bools, JSON lists/objects.

    Values for text fields stay as written, so `-S greeting=123` keeps the string "123"; so does a
    value the field cannot take but as text (`-S verify=true` for the loop is the command `true`).
    """
    if not isinstance(raw, str) or is_text_type(field_type):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        lowered = raw.strip().lower()
        value = True if lowered in ("yes", "on") else False if lowered in ("no", "off") else raw
    kinds = value_types(field_type)
    if kinds is not None and str in kinds and not takes(kinds, value):
        return raw
    return value
