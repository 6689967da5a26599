"""Selection specs: `score`, `tests`, `tournament`, or `tests` then `tournament` among those tied at
the top (`tests,tournament` in `select`, `tests+tournament` inside `compare`'s list)."""

from __future__ import annotations

METHODS = ("score", "tests", "tournament")
COMBINATIONS = {("score",), ("tests",), ("tournament",), ("tests", "tournament")}
SHOWN = "score, tests, tournament or tests,tournament"


def parse_select(text: str) -> tuple[str, ...]:
    """`select`'s value -> its methods in order; ValueError with the accepted spellings."""
    return _methods(text.replace(",", "+"), "select")


def parse_compare(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """`compare`'s value -> (the spec as given, its methods) for each spec, in order."""
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise ValueError(f"compare needs one or more specs separated by commas, each of {SHOWN.replace(',t', '+t')}")
    parsed = [(s, _methods(s, "compare")) for s in specs]
    if len({m for _, m in parsed}) < len(parsed):
        raise ValueError(f"compare names a spec twice: {text!r}")
    return parsed


def _methods(spec: str, setting: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in spec.split("+"))
    if methods not in COMBINATIONS:
        unknown = [m for m in methods if m not in METHODS]
        what = f"unknown method {unknown[0]!r}" if unknown else f"{spec!r} is not a combination it takes"
        raise ValueError(f"{setting}: {what}; one of {SHOWN if setting == 'select' else SHOWN.replace(',t', '+t')}")
    return methods


def judge_calls(candidates: int, bracket: str) -> int:
    """The most judgings a tournament among `candidates` asks for, each in both orders: a round
    robin judges every pair, single elimination n-1 pairings."""
    if candidates < 2:
        return 0
    pairs = candidates * (candidates - 1) // 2 if round_robin(candidates, bracket) else candidates - 1
    return 2 * pairs


def round_robin(candidates: int, bracket: str) -> bool:
    """`auto`: a round robin for up to ROUND_ROBIN_MAX candidates, single elimination past it."""
    return bracket == "round-robin" or (bracket == "auto" and candidates <= ROUND_ROBIN_MAX)


ROUND_ROBIN_MAX = 6
