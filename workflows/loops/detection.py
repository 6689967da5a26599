"""Loop detection: is the agent going round in circles? Pure functions over what the deciders
record per iteration, so they run in the workflow sandbox and give the same answer on replay.

- `content_hash`: the iteration's L0-L3 outcomes and tree (hybrid: the last 3 identical is a loop).
- `similarity`: Jaccard similarity of two agent outputs' word sets (ralph).
- `fingerprint` + `detect_loop`: AgentGate's three loop types over recent iterations, oldest first
  with the current one last: exact, oscillating, semantic (see each function).
- `repeated_loop`: AgentGate's own loop detection (its base strategy's, which its fixed strategy
  uses): a pattern among the earlier iterations whose confidence passes 0.8.
- `find_completion_signal`: the completion signal an agent output carries, if any.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workflows.loops.models import COMPLETION_SIGNALS, LEVELS, Snapshot, VerificationReport

Fingerprint = dict[str, Any]
"""JSON-ready (deciders keep them in their state): iteration, commit, tree, and `failures`,
the sorted [level, command, exit_code] of the failing commands, or None when the iteration passed
or ran no verification."""

SEMANTIC_WINDOW = 3
OSCILLATION_WINDOW = 4


@dataclass(frozen=True)
class Loop:
    type: str
    """"exact", "oscillating" or "semantic" (the deciders add "content_hash" and "similarity")."""
    reason: str
    """One sentence, for the decision."""
    iterations: tuple[int, ...]
    confidence: float = 1.0
    """How sure the detector is (repeated_loop's patterns; the others are certain)."""


def content_hash(verification: VerificationReport | None, snapshot: Snapshot) -> str:
    """sha256 of each of L0-L3 (pass, fail, or - when not configured) and the tree, first 16 hex."""
    parts = []
    for name in LEVELS:
        level = verification.level(name) if verification else None
        parts.append(f"{name}:{'-' if level is None else 'pass' if level.passed else 'fail'}")
    parts.append(f"tree:{snapshot.tree}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def tokens(text: str) -> set[str]:
    return {token for token in re.split(r"\W+", text.lower()) if token}


def similarity(a: str, b: str) -> float:
    """|A ∩ B| / |A ∪ B| of the two texts' lowercased words; two texts without words are identical (1.0)."""
    left, right = tokens(a), tokens(b)
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def _signal_pattern(signal: str, ignore_case: bool) -> re.Pattern[str]:
    # a marked signal (TASK_COMPLETE, [DONE]) is one in any case; a bare word (DONE) only in capitals
    flags = re.IGNORECASE if ignore_case and not signal.isalpha() else 0
    return re.compile(rf"(?<!\w){re.escape(signal)}(?!\w)", flags)


_SIGNAL_PATTERNS = {
    ignore_case: tuple((signal, _signal_pattern(signal, ignore_case)) for signal in sorted(COMPLETION_SIGNALS, key=len, reverse=True))
    for ignore_case in (False, True)
}


def find_completion_signal(text: str, ignore_case: bool = False) -> str | None:
    """The longest of COMPLETION_SIGNALS that `text` carries as a whole word, e.g. "DONE" but not
    "UNDONE", "ABANDONED" or "DONE_LATER". Case matters unless `ignore_case` (ralph, as
    AgentGate's ralph reads signals: "task_complete." is TASK_COMPLETE); even then a bare "done"
    in prose ("not done yet") is no signal: DONE alone counts only in capitals."""
    return next((signal for signal, pattern in _SIGNAL_PATTERNS[ignore_case] if pattern.search(text)), None)


TIMINGS = re.compile(r"\b\d+(?:\.\d+)?\s*(?:ms|s|sec|secs|seconds|m|min)\b|\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b")
"""Durations and clock times in a command's output: they differ on every run of the same failure."""


def output_digest(output: str) -> str:
    """What a failing command said, without its timings: the same failure says the same; a test
    suite failing less ("2 failed" after "3 failed") does not."""
    return hashlib.sha256(TIMINGS.sub("#", output).encode()).hexdigest()[:12]


def fingerprint(iteration: int, snapshot: Snapshot, verification: VerificationReport | None) -> Fingerprint:
    failures = None
    if verification is not None and not verification.passed:
        # a level can fail with no failing command of its own (skipped, or nothing ran): it counts as itself
        failures = [[level, command.command, command.exit_code, output_digest(command.output_tail)] for level, command in verification.failing()]
        failures = failures or [[level.level, "", None, ""] for level in verification.levels if not level.passed]
        failures.sort(key=lambda f: (f[0], f[1], -1 if f[2] is None else f[2], f[3]))
    return {"iteration": iteration, "commit": snapshot.commit, "tree": snapshot.tree, "failures": failures}


LOOP_TYPES = ("exact", "oscillating", "semantic")


def detect_loop(recent: Sequence[Fingerprint], types: Sequence[str] = LOOP_TYPES) -> Loop | None:
    """The first loop of `types` found among `recent` (oldest first, the current iteration last),
    trying the most specific first: exact, oscillating, semantic."""
    detectors = {"exact": exact_loop, "oscillating": oscillating_loop, "semantic": semantic_loop}
    for kind in LOOP_TYPES:
        found = detectors[kind](recent) if kind in types else None
        if found:
            return found
    return None


def exact_loop(recent: Sequence[Fingerprint]) -> Loop | None:
    """The branch went back to a commit it had left: the current commit differs from the previous
    iteration's but equals an earlier one's. Standing still (no new commit, so the previous
    iteration's commit again) is no loop here: it is hybrid's no_changes."""
    if len(recent) < 3:
        return None
    current, previous = recent[-1], recent[-2]
    if current["commit"] == previous["commit"]:
        return None
    earlier = next((fp for fp in reversed(recent[:-2]) if fp["commit"] == current["commit"]), None)
    if earlier is None:
        return None
    return Loop(
        "exact",
        f"iteration {current['iteration']} went back to commit {current['commit'][:8]} of iteration {earlier['iteration']}",
        (earlier["iteration"], current["iteration"]),
    )


def oscillating_loop(recent: Sequence[Fingerprint]) -> Loop | None:
    """Trees A, B, A, B over the last 4 iterations, A != B: the agent undoes and redoes a change."""
    if len(recent) < OSCILLATION_WINDOW:
        return None
    a, b, c, d = recent[-OSCILLATION_WINDOW:]
    if not (a["tree"] == c["tree"] and b["tree"] == d["tree"] and a["tree"] != b["tree"]):
        return None
    return Loop(
        "oscillating",
        f"the tree went back and forth between {a['tree'][:8]} and {b['tree'][:8]} over iterations {a['iteration']}-{d['iteration']}",
        tuple(fp["iteration"] for fp in (a, b, c, d)),
    )


def semantic_loop(recent: Sequence[Fingerprint]) -> Loop | None:
    """The same commands failed, with the same exit codes and the same output (timings aside), in
    each of the last 3 iterations."""
    if len(recent) < SEMANTIC_WINDOW:
        return None
    window = recent[-SEMANTIC_WINDOW:]
    failures = window[-1]["failures"]
    if not failures or any(fp["failures"] != failures for fp in window):
        return None
    failing = ", ".join(f"{level} {command or '(level)'} exit {code}" for level, command, code, _ in failures)
    return Loop(
        "semantic",
        f"the same checks failed in each of the last {SEMANTIC_WINDOW} iterations ({failing})",
        tuple(fp["iteration"] for fp in window),
    )


REPEAT_CONFIDENCE = 0.8
"""A repeated_loop pattern ends the loop above this confidence (AgentGate's fixed strategy)."""
REPEATS_KEPT = 10


def repeated_loop(earlier: Sequence[Fingerprint]) -> Loop | None:
    """AgentGate's loop detection (its base strategy's detectRepeatPatterns, which its fixed strategy
    reads), over the fingerprints of the last REPEATS_KEPT iterations before this one (AgentGate
    records an iteration after deciding on it): the first of its patterns whose confidence passes
    REPEAT_CONFIDENCE, in its order:
    - exact: n of them ended with the same content (confidence n/3: 3 or more);
    - semantic: n of them failed the same checks the same way (n/3);
    - oscillating: the last 4 went back and forth between two contents (0.9).
    Content is the tree: AgentGate compares commit ids, and in git an iteration that changed
    nothing keeps its commit while one that went back to earlier content makes a new commit of
    the same tree."""
    recent = list(earlier)[-REPEATS_KEPT:]
    patterns: list[Loop] = []
    for kind, key in (("exact", "tree"), ("semantic", "failures")):
        groups: dict[str, list[int]] = {}
        for fp in recent:
            if fp[key]:
                groups.setdefault(repr(fp[key]), []).append(fp["iteration"])
        for group in groups.values():
            if len(group) >= 2:
                what = "ended with the same tree" if kind == "exact" else "failed the same checks the same way"
                patterns.append(Loop(kind, f"iterations {', '.join(map(str, group))} {what}", tuple(group), min(1.0, len(group) / 3)))
    if len(recent) >= OSCILLATION_WINDOW:
        a, b, c, d = recent[-OSCILLATION_WINDOW:]
        if a["tree"] == c["tree"] and b["tree"] == d["tree"] and a["tree"] != b["tree"]:
            swung = tuple(fp["iteration"] for fp in (a, b, c, d))
            patterns.append(Loop("oscillating", f"the tree went back and forth over iterations {swung[0]}-{swung[-1]}", swung, 0.9))
    return next((p for p in patterns if p.confidence > REPEAT_CONFIDENCE), None)
