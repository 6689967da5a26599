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


def parse_param_value(raw: Any, field_type: Any) -> Any:
    """A `-S key=value` string becomes a typed value: ints, floats, bools, JSON lists/objects.

    Values for text fields stay as written, so `-S greeting=123` keeps the string "123".
    """
    if not isinstance(raw, str) or is_text_type(field_type):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        lowered = raw.strip().lower()
        if lowered in ("yes", "on"):
            return True
        if lowered in ("no", "off"):
            return False
        return raw
