"""Loop detection helpers: content hash, similarity, completion signals, exact/oscillating/semantic loops."""

from __future__ import annotations

import re

import pytest

from tests.workflows.loops.builders import ctx, passing, report
from workflows.loops.detection import (
    content_hash,
    detect_loop,
    exact_loop,
    find_completion_signal,
    fingerprint,
    oscillating_loop,
    output_digest,
    repeated_loop,
    semantic_loop,
    similarity,
)


def fp(iteration: int, commit: str = "", tree: str = "", failures=None) -> dict:
    return {"iteration": iteration, "commit": commit or f"c{iteration}", "tree": tree or f"t{iteration}", "failures": failures}


def test_content_hash_is_16_hex_of_the_levels_and_tree():
    snapshot = ctx(1, tree="abc").snapshot
    digest = content_hash(passing(1), snapshot)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert digest == content_hash(passing(1), ctx(7, tree="abc").snapshot)
    assert digest != content_hash(passing(2), snapshot)
    assert digest != content_hash(passing(1), ctx(1, tree="abd").snapshot)
    assert content_hash(None, snapshot) != content_hash(report("fail"), snapshot)


def test_similarity_is_jaccard_over_lowercased_words():
    assert similarity("", "") == 1.0
    assert similarity("...", "!!") == 1.0
    assert similarity("words", "") == 0.0
    assert similarity("Fixed the Parser.", "fixed, the parser!") == 1.0
    assert similarity("a b c", "b c d") == 0.5
    assert similarity("a a a b", "a b") == 1.0


def test_completion_signals_are_whole_words_in_capitals():
    assert find_completion_signal("All tests pass. TASK_COMPLETE") == "TASK_COMPLETE"
    assert find_completion_signal("TASK_COMPLETED.") == "TASK_COMPLETED"
    assert find_completion_signal("[DONE]") == "[DONE]"
    assert find_completion_signal("so: DONE") == "DONE"
    assert find_completion_signal("[COMPLETE]") == "[COMPLETE]"
    for text in ("UNDONE", "ABANDONED", "done", "DONE_LATER", "XDONE", "COMPLETE", "TASK_COMPLETENESS"):
        assert find_completion_signal(text) is None, text


def test_fingerprint_records_failing_commands_with_exit_codes():
    failing = report("pass", "fail", "skip", failing={"L1": [("pytest -x", 2), ("mypy", None)]})
    assert fingerprint(3, ctx(3).snapshot, failing) == {
        "iteration": 3,
        "commit": "commit0003",
        "tree": "tree0003",
        "failures": [["L1", "mypy", None, output_digest("")], ["L1", "pytest -x", 2, output_digest("")]],
    }
    assert fingerprint(3, ctx(3).snapshot, passing(2, of=2))["failures"] is None
    assert fingerprint(3, ctx(3).snapshot, None)["failures"] is None
    assert fingerprint(3, ctx(3).snapshot, report("pass", "fail", failing={"L1": []}))["failures"] == [["L1", "", None, ""]]


def test_the_same_failure_is_told_by_its_output_without_its_timings():
    assert output_digest("1 failed in 0.52s at 12:01:33") == output_digest("1 failed in 1.03s at 12:04:10")
    assert output_digest("3 failed, 7 passed in 2.1s") != output_digest("2 failed, 8 passed in 2.0s")  # progress is no loop


def test_exact_loop_is_going_back_to_an_earlier_commit():
    loop = exact_loop([fp(1, "a"), fp(2, "b"), fp(3, "a")])
    assert loop and loop.type == "exact" and loop.iterations == (1, 3)
    assert exact_loop([fp(1, "a"), fp(2, "b"), fp(3, "b")]) is None  # standing still: no_changes, not a loop
    assert exact_loop([fp(1, "a"), fp(2, "a"), fp(3, "a")]) is None
    assert exact_loop([fp(1, "a"), fp(2, "b"), fp(3, "c")]) is None
    assert exact_loop([fp(1, "a"), fp(2, "a")]) is None


def test_oscillating_loop_is_abab_trees():
    loop = oscillating_loop([fp(1, tree="x"), fp(2, tree="a"), fp(3, tree="b"), fp(4, tree="a"), fp(5, tree="b")])
    assert loop and loop.type == "oscillating" and loop.iterations == (2, 3, 4, 5)
    assert oscillating_loop([fp(1, tree="a"), fp(2, tree="a"), fp(3, tree="a"), fp(4, tree="a")]) is None
    assert oscillating_loop([fp(1, tree="a"), fp(2, tree="b"), fp(3, tree="a"), fp(4, tree="c")]) is None
    assert oscillating_loop([fp(1, tree="a"), fp(2, tree="b"), fp(3, tree="a")]) is None


def test_semantic_loop_is_the_same_failures_three_times():
    same = [["L1", "pytest", 1, "d1"]]
    loop = semantic_loop([fp(1, failures=[["L0", "ruff", 1, "d0"]]), fp(2, failures=same), fp(3, failures=same), fp(4, failures=same)])
    assert loop and loop.type == "semantic" and loop.iterations == (2, 3, 4)
    assert semantic_loop([fp(1, failures=same), fp(2, failures=same)]) is None
    assert semantic_loop([fp(1, failures=same), fp(2, failures=[["L1", "pytest", 2, "d1"]]), fp(3, failures=same)]) is None
    assert semantic_loop([fp(1, failures=same), fp(2, failures=[["L1", "pytest", 1, "d2"]]), fp(3, failures=same)]) is None  # it said something else
    assert semantic_loop([fp(1, failures=same), fp(2, failures=same), fp(3, failures=None)]) is None


@pytest.mark.parametrize(
    ("recent", "expected"),
    [
        ([fp(1, "a", "x"), fp(2, "b", "y"), fp(3, "a", "x")], "exact"),
        ([fp(1, tree="x"), fp(2, tree="y"), fp(3, tree="x"), fp(4, tree="y")], "oscillating"),
        ([fp(i, failures=[["L0", "ruff", 1, "d"]]) for i in (1, 2, 3)], "semantic"),
        ([fp(1), fp(2), fp(3), fp(4)], None),
        ([], None),
    ],
)
def test_detect_loop(recent, expected):
    loop = detect_loop(recent)
    assert (loop.type if loop else None) == expected


@pytest.mark.parametrize(("text", "ignore_case", "signal"), [
    ("task_complete.", True, "TASK_COMPLETE"), ("task_complete.", False, None), ("[Done]", True, "[DONE]"),
    ("all done", True, None), ("DONE", True, "DONE"), ("Done.", True, None), ("task_completeness", True, None),
])
def test_completion_signals_in_any_case_but_a_bare_done(text, ignore_case, signal):
    assert find_completion_signal(text, ignore_case=ignore_case) == signal


def test_repeated_loop_is_agentgates_detection_over_earlier_iterations():
    """A pattern counts once its confidence passes 0.8: the same tree or the same failures 3 times
    (n/3), back and forth over 4 (0.9)."""
    assert repeated_loop([fp(1, tree="a"), fp(2, tree="a")]) is None  # 2/3
    exact = repeated_loop([fp(1, tree="a"), fp(2, tree="b"), fp(3, tree="a"), fp(4, tree="c"), fp(5, tree="a")])
    assert exact is not None and (exact.type, exact.iterations, exact.confidence) == ("exact", (1, 3, 5), 1.0)
    failing = [["L1", "pytest", 1, "d"]]
    semantic = repeated_loop([fp(1, failures=failing), fp(2, failures=failing), fp(3), fp(4, failures=failing)])
    assert semantic is not None and (semantic.type, semantic.iterations) == ("semantic", (1, 2, 4))
    swing = repeated_loop([fp(1, tree="a"), fp(2, tree="b"), fp(3, tree="a"), fp(4, tree="b")])
    assert swing is not None and (swing.type, swing.confidence) == ("oscillating", 0.9)
    assert repeated_loop([fp(i, tree="a") for i in range(1, 4)] + [fp(i) for i in range(4, 14)]) is None  # only the last 10 count
