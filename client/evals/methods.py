"""The selection methods an evaluation compares: `-S select=score,tests,tournament` (a method per
comma, a combination joined by `+`: `tests+tournament`), handed to best-of-n as its `-S compare=`
list so that the candidates are made once and only the pick differs. Which specs exist is
best-of-n's to say (workflows/strategies/selection/spec.py): one definition."""

from __future__ import annotations

from client.errors import UsageError
from workflows.strategies.selection.spec import parse_compare

DEFAULT = "score"


def parse_methods(spec: str) -> list[str]:
    """`score,tests+tournament` -> ["score", "tests+tournament"]: each a spec best-of-n takes, none twice."""
    try:
        return [given for given, _ in parse_compare(spec)]
    except ValueError as e:
        said = str(e).removeprefix("compare: ").replace("compare names a spec twice", "a method is given twice")
        raise UsageError(f"-S select={spec}: {said.replace('compare needs one or more specs', 'give one or more methods')}") from None


def compare_param(methods: list[str]) -> str:
    """best-of-n's `-S compare=` value for these methods (the first one's pick is the run's winner)."""
    return ",".join(methods)
