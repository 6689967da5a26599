"""Strategy parameters that name files: the client reads them, since workflows cannot.

`-S key=@path` reads the file for any non-text parameter (`-S variants=@variants.yaml`); a
parameter declared with `metadata=FROM_FILE` takes a plain path (`-S pages_file=pages.yml`).
Files are YAML or JSON, relative to the current directory; their content becomes the value.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from workflows.sdk.errors import ConfigError
from workflows.sdk.params import is_text_type, reads_file
from workflows.sdk.strategy import Strategy


def read_param_file(key: str, path: str) -> Any:
    try:
        return yaml.safe_load(Path(path).expanduser().read_text())
    except OSError as e:
        raise ConfigError(f"-S {key}: cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"-S {key}: {path} is not valid YAML or JSON: {str(e).splitlines()[0]}") from None


def resolve_param_files(strategy: type[Strategy], params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every file-valued parameter replaced by its file's content."""
    config_cls = strategy().get_config_class()
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    resolved = dict(params)
    for key, value in params.items():
        declared = fields.get(key)
        if declared is None or not isinstance(value, str):
            continue
        if reads_file(declared) or (value.startswith("@") and not is_text_type(hints.get(key))):
            resolved[key] = read_param_file(key, value.removeprefix("@"))
    return resolved
