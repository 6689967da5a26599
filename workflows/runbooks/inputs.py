"""The formats a queue's `source` may print: `format = json | lines | csv | kv` (the loader checks
a runbook's against them; the activity that reads a source parses its output by them:
activities/runbooks/formats.py)."""

from __future__ import annotations

from typing import Literal

InputFormat = Literal["json", "lines", "csv", "kv"]
FORMATS: tuple[InputFormat, ...] = ("json", "lines", "csv", "kv")
