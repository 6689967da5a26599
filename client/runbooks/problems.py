"""A problem in a runbook, with its file and place: `bugfix.toml: pipeline.fix.phase[3] "merge": ...`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workflows.runbooks.reading import did_you_mean

__all__ = ["Problem", "RunbookError", "did_you_mean", "shown"]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.place}: {self.message}" if self.place else f"{self.file}: {self.message}"


class RunbookError(Exception):
    """Runbooks that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more; `orchard runbook validate` lists them)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


def shown(path: str | Path) -> str:
    """A runbook file as errors name it: relative to the current directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
