"""The built-in loop modes (fixed, hybrid, ralph) and the registry, through the seed's verification steps."""

from __future__ import annotations

import json

import pytest

from tests.workflows.loops.builders import actions, chain, ctx, drive, passing, report, step
from workflows.loops import registry
from workflows.loops.models import CommandReport
from workflows.loops.modes.base import LoopDecider, progress_of
from workflows.loops.modes.fixed import FixedDecider
from workflows.loops.modes.hybrid import HybridDecider
from workflows.loops.modes.ralph import OUTPUT_KEPT_CHARS, RalphDecider
from workflows.sdk.errors import ConfigError, StrategyError

# fixed


def test_fixed_runs_n_iterations_then_times_out():
    decider = registry.create_decider({"mode": "fixed", "max_iterations": 4})
    decisions = drive(decider, chain(6, max_iterations=4, reports=[passing(1)] * 6))
    assert actions(decisions) == ["continue", "continue", "continue", "timeout"]
    assert decisions[-1].reason == "reached the maximum of 4 iterations"
    assert decisions[-1].metadata["criterion"] == "max_iterations"


def test_fixed_stops_when_verification_passes_even_on_the_last_iteration():
    decider = FixedDecider()
    assert decider.max_iterations == 3
    decisions = drive(decider, chain(3, max_iterations=3, reports=[passing(0), passing(1), passing(3)]))
    assert actions(decisions) == ["continue", "continue", "complete"]
    assert decisions[-1].reason == "verification passed at L2 on iteration 3"


def test_fixed_without_verification_just_counts():
    assert actions(drive(FixedDecider({"max_iterations": 2}), chain(5, max_iterations=2))) == ["continue", "timeout"]


def test_fixed_honours_an_extended_maximum():
    decider = FixedDecider({"max_iterations": 2})
    assert step(decider, ctx(2, max_iterations=4)).should_continue
    assert step(decider, ctx(4, max_iterations=4)).action == "timeout"


def test_fixed_tracks_its_state():
    decider = FixedDecider({"max_iterations": 3})
    drive(decider, chain(3, max_iterations=3, reports=[passing(0), passing(2), passing(1)]))
    state = decider.get_state()
    assert state["iteration"] == 3
    assert state["decisions"] == {"continue": 2, "timeout": 1}
    assert state["highest_level"] == "L1"
    assert [e["progress"] for e in state["progress"]] == [0.0, pytest.approx(2 / 3), pytest.approx(1 / 3)]
    assert state["last_decision"]["iteration"] == 3 and state["last_decision"]["continue"] is False
    assert state["summary"] == {
        "iterations": 3,
        "action": "timeout",
        "reason": "reached the maximum of 3 iterations",
        "partial": False,
        "highest_level": "L1",
        "loop_count": 0,
    }


def test_get_state_is_a_copy():
    decider = FixedDecider()
    step(decider, ctx(1))
    state = decider.get_state()
    state["decisions"]["continue"] = 99
    assert decider.get_state()["decisions"] == {"continue": 1}


def test_progress_counts_levels_up_to_the_highest_passing():
    assert progress_of(None) == 0.0
    assert progress_of(report("pass", "fail", "pass")) == pytest.approx(1 / 3)
    assert progress_of(report("pass", "pass", "pass", "fail")) == 0.75
    assert progress_of(report("fail", "skip")) == 0.0


# hybrid


def hybrid(**settings) -> HybridDecider:
    return HybridDecider(settings)


def test_hybrid_defaults():
    decider = hybrid()
    assert decider.max_iterations == 5
    assert decider.settings.completion == ["verification_pass", "no_changes"]
    assert decider.settings.progress_threshold == 0.1


def test_hybrid_completes_when_verification_passes():
    decisions = drive(hybrid(), chain(5, reports=[passing(1), passing(3)]))
    assert actions(decisions) == ["continue", "complete"]
    assert decisions[-1].reason == "verification passed at L2 on iteration 2"
    assert decisions[-1].metadata | {"criterion": "verification_pass", "highest_level": "L2", "partial": False} == decisions[-1].metadata


def test_hybrid_minimum_level_suffices_even_when_higher_levels_fail():
    decider = hybrid(min_verification_level="L1")
    decision = decider.should_continue(ctx(1, verification=passing(2, of=4)))
    assert decision.action == "complete" and decision.reason == "verification passed up to L1 (minimum L1) on iteration 1"
    assert hybrid().should_continue(ctx(1, verification=passing(2, of=4))).action == "continue"
    assert decider.should_continue(ctx(1, verification=passing(1, of=4))).action == "continue"


def test_hybrid_completes_when_nothing_changed_even_on_the_first_iteration():
    decision = hybrid().should_continue(ctx(1, tree="same", previous_tree="same", verification=passing(0)))
    assert decision.action == "complete" and decision.metadata["criterion"] == "no_changes"
    assert decision.reason == "iteration 1 changed nothing (tree same as before)"


def test_hybrid_no_changes_does_not_count_when_the_agent_failed():
    decision = hybrid().should_continue(ctx(1, tree="same", previous_tree="same", agent_error="exit 1"))
    assert decision.action == "continue"


def test_hybrid_checks_criteria_in_the_order_given():
    both = ctx(2, tree="t", previous_tree="t", verification=passing(3), ci=CommandReport(command="make ci", passed=True), output="TASK_COMPLETE")
    assert hybrid().should_continue(both).metadata["criterion"] == "verification_pass"
    assert hybrid(completion=["no_changes", "verification_pass"]).should_continue(both).metadata["criterion"] == "no_changes"
    ci_first = hybrid(completion=["ci_pass", "agent_signal"]).should_continue(both)
    assert ci_first.metadata["criterion"] == "ci_pass" and ci_first.reason == "CI (make ci) passed on iteration 2"
    signal = hybrid(completion=["agent_signal"]).should_continue(both)
    assert signal.reason == "the agent signalled TASK_COMPLETE on iteration 2"


def test_hybrid_with_no_criteria_met_continues():
    assert hybrid(completion=["ci_pass", "agent_signal"]).should_continue(ctx(1, ci=CommandReport(command="ci", passed=False), output="UNDONE")).should_continue


def test_hybrid_detects_a_loop_by_repeated_content_hash():
    decider = hybrid(completion=["verification_pass"], base_iterations=10)
    decisions = drive(decider, chain(5, max_iterations=12, trees=["a", "a", "a", "a", "a"], reports=[passing(0)] * 5))
    assert actions(decisions) == ["continue", "continue", "fail"]
    assert decisions[-1].metadata["loop_type"] == "content_hash"
    assert decisions[-1].reason == "loop detected: iterations 1-3 ended with the same verification results and tree"
    assert decider.get_state()["loop_count"] == 1
    assert len(decider.get_state()["hashes"]) == 3


def test_hybrid_detects_only_the_loops_it_is_told_to():
    stuck = chain(5, max_iterations=5, trees=["a"] * 5, reports=[passing(0)] * 5)
    assert actions(drive(hybrid(completion=["verification_pass"], base_iterations=5, loop_detection=[]), stuck)) == ["continue"] * 4 + ["timeout"]
    swinging = chain(4, max_iterations=12, trees=["a", "b", "a", "b"], reports=[passing(0)] * 4)
    only_oscillation = hybrid(completion=["verification_pass"], base_iterations=10, progress_threshold=0, loop_detection=["oscillating"])
    decisions = drive(only_oscillation, swinging)
    assert actions(decisions) == ["continue"] * 3 + ["fail"] and decisions[-1].metadata["loop_type"] == "oscillating"
    with pytest.raises(ConfigError, match="loop_detection"):
        hybrid(loop_detection=["deja_vu"])


def test_hybrid_different_results_on_the_same_tree_are_no_loop():
    decider = hybrid(completion=["verification_pass"], base_iterations=10, progress_threshold=0)
    decisions = drive(decider, chain(3, max_iterations=12, trees=["a"] * 3, reports=[passing(0), passing(1), passing(0)]))
    assert actions(decisions) == ["continue"] * 3


def test_hybrid_keeps_the_last_five_hashes_and_ten_progress_entries():
    decider = hybrid(completion=[], base_iterations=20, max_bonus_iterations=0)
    drive(decider, chain(12, max_iterations=20, reports=[passing(i % 2) for i in range(12)]))
    state = decider.get_state()
    assert [h["iteration"] for h in state["hashes"]] == [8, 9, 10, 11, 12]
    assert [e["iteration"] for e in state["progress"]] == list(range(3, 13))
    assert [e["iteration"] for e in state["fingerprints"]] == list(range(3, 13))
    assert state["highest_level"] == "L0"


def test_hybrid_partial_acceptance_after_a_loop():
    decider = hybrid(completion=["verification_pass"], base_iterations=10, accept_partial_after=2)
    decisions = drive(decider, chain(3, max_iterations=12, trees=["a"] * 3, reports=[passing(1)] * 3))
    last = decisions[-1]
    assert last.action == "complete" and last.partial
    assert last.metadata["instead_of"] == "fail" and last.metadata["loop_type"] == "content_hash"
    assert last.reason.endswith("; accepting the partial result (passed up to L0) after 3 iterations")


def test_hybrid_no_partial_acceptance_without_progress_or_before_the_threshold():
    without_progress = hybrid(completion=["verification_pass"], base_iterations=10, accept_partial_after=2)
    assert drive(without_progress, chain(3, max_iterations=12, trees=["a"] * 3, reports=[passing(0)] * 3))[-1].action == "fail"
    too_early = hybrid(completion=["verification_pass"], base_iterations=10, accept_partial_after=4)
    last = drive(too_early, chain(3, max_iterations=12, trees=["a"] * 3, reports=[passing(1)] * 3))[-1]
    assert last.action == "fail" and last.metadata["partial"] is False


def test_hybrid_partial_acceptance_counts_a_level_passed_in_an_earlier_iteration():
    decider = hybrid(base_iterations=2, max_bonus_iterations=0, accept_partial_after=2)
    decisions = drive(decider, chain(2, max_iterations=2, reports=[passing(2), passing(0)]))
    assert decisions[-1].action == "complete" and decisions[-1].partial and decisions[-1].metadata["highest_level_ever"] == "L1"


def test_hybrid_times_out_at_the_maximum():
    decider = hybrid(base_iterations=2, max_bonus_iterations=1, progress_threshold=0)
    decisions = drive(decider, chain(5, max_iterations=3, reports=[passing(0)] * 5))
    assert actions(decisions) == ["continue", "continue", "timeout"]
    assert decisions[-1].reason == "reached the maximum of 3 iterations"


def legacy(decider):
    """The decider as the loop makes it for a run begun before AgentGate's rules (its Temporal patch)."""
    decider.legacy = True
    return decider


def test_hybrid_goes_on_to_the_maximum_past_the_base_iterations():
    """The seed's and AgentGate's hybrid: bonus iterations up to the maximum, progress or not."""
    decider = hybrid(base_iterations=2, max_bonus_iterations=3, loop_detection=[])  # the same failure each time is a semantic loop
    decisions = drive(decider, chain(6, reports=[passing(1)] * 6))
    assert actions(decisions) == ["continue"] * 4 + ["timeout"]
    assert decisions[1].metadata["bonus"] is True and decisions[1].reason == "iteration 2 done at progress 0.33 (up 0.00); bonus iteration 3 of 5"
    assert decisions[-1].reason == "reached the maximum of 5 iterations with progress (passed up to L0)"
    assert decisions[-1].metadata | {"criterion": "max_iterations", "partial_acceptable": True, "partial": False} == decisions[-1].metadata


def test_hybrid_says_whether_the_result_made_progress_by_progress_threshold():
    """AgentGate's partialAccept: past the base iterations, some level passed; here the best
    fraction of the levels passed must also reach progress_threshold. It is said, not acted on:
    the loop accepts a partial result only with accept_partial_after."""
    without = drive(hybrid(base_iterations=1, max_bonus_iterations=1), chain(2, max_iterations=2, reports=[passing(0)] * 2))[-1]
    assert (without.action, without.metadata["partial_acceptable"]) == ("timeout", False) and without.reason == "reached the maximum of 2 iterations"
    a_quarter = chain(2, max_iterations=2, reports=[passing(1, of=4), passing(0, of=4)])
    assert drive(hybrid(base_iterations=1, max_bonus_iterations=1), a_quarter)[-1].metadata["partial_acceptable"] is True
    assert drive(hybrid(base_iterations=1, max_bonus_iterations=1, progress_threshold=0.5), a_quarter)[-1].metadata["partial_acceptable"] is False
    early_loop = drive(hybrid(base_iterations=5, completion=[]), chain(3, trees=["a"] * 3, reports=[passing(1)] * 3))[-1]
    assert early_loop.action == "fail" and early_loop.metadata["partial_acceptable"] is False  # a loop before the base iterations ran


def test_hybrid_accepts_loop_detection_among_its_completion_criteria():
    decider = hybrid(completion=["loop_detection", "verification_pass"], base_iterations=10)
    decisions = drive(decider, chain(3, max_iterations=12, trees=["a"] * 3, reports=[passing(0)] * 3))
    assert actions(decisions) == ["continue", "continue", "fail"] and decisions[-1].metadata["loop_type"] == "content_hash"
    with pytest.raises(ConfigError, match=r"completion lists loop_detection, yet loop_detection is \[\]: drop one of them"):
        hybrid(completion=["loop_detection"], loop_detection=[])


def test_ci_pass_without_a_ci_command_counts_a_passed_verification():
    """AgentGate's ci_pass: with no CI of its own, a passed verification; a ci command's outcome when there is one."""
    decision = hybrid(completion=["ci_pass"]).should_continue(ctx(1, verification=passing(2, of=2)))
    assert decision.action == "complete" and decision.reason == "CI counts as passed: no ci command is set and verification passed at L1 on iteration 1"
    failed_ci = ctx(1, verification=passing(2, of=2), ci=CommandReport(command="make ci", passed=False))
    assert hybrid(completion=["ci_pass"]).should_continue(failed_ci).action == "continue"
    assert hybrid(completion=["ci_pass"]).should_continue(ctx(1, verification=passing(1, of=2))).action == "continue"
    assert legacy(hybrid(completion=["ci_pass"])).should_continue(ctx(1, verification=passing(2, of=2))).action == "continue"


def test_before_agentgate_rules_hybrid_grants_bonus_iterations_while_progress_grows():
    decider = legacy(hybrid(base_iterations=2, max_bonus_iterations=3))
    decisions = drive(decider, chain(5, reports=[passing(0, of=4), passing(1, of=4), passing(2, of=4), passing(3, of=4), passing(3, of=4)]))
    assert actions(decisions) == ["continue", "continue", "continue", "continue", "timeout"]
    assert decisions[1].metadata["bonus"] is True and decisions[1].reason == "iteration 2 raised progress by 0.25 to 0.25; bonus iteration 3 granted"
    assert decisions[-1].metadata["criterion"] == "max_iterations"


def test_before_agentgate_rules_hybrid_stops_after_the_base_iterations_without_progress():
    decider = legacy(hybrid(base_iterations=2, max_bonus_iterations=3))
    decisions = drive(decider, chain(5, reports=[passing(1), passing(1), passing(2)]))
    assert actions(decisions) == ["continue", "timeout"]
    assert decisions[-1].metadata["criterion"] == "no_progress"
    assert decisions[-1].reason.startswith("no progress worth a bonus iteration after iteration 2 (progress 0.33, up 0.00, needs 0.10")


def test_hybrid_progress_rise_equal_to_the_threshold_earns_a_bonus():
    decider = hybrid(base_iterations=1, max_bonus_iterations=1, progress_threshold=0.25)
    assert decider.should_continue(ctx(1, verification=passing(1, of=4))).action == "continue"


def test_hybrid_extended_iterations_are_not_bonus_iterations():
    extended = drive(hybrid(base_iterations=2, max_bonus_iterations=1), chain(5, max_iterations=5))  # extended by 2
    assert actions(extended) == ["continue"] * 4 + ["timeout"]
    assert [d.metadata.get("bonus", False) for d in extended[:4]] == [False, False, False, True]
    before = drive(legacy(hybrid(base_iterations=2, max_bonus_iterations=1)), chain(5, max_iterations=5))
    assert actions(before) == ["continue", "continue", "continue", "timeout"] and before[-1].metadata["criterion"] == "no_progress"
    assert actions(drive(legacy(hybrid(base_iterations=2, max_bonus_iterations=1)), chain(5, max_iterations=3))) == ["continue", "timeout"]


def test_hybrid_stops_on_an_oscillating_tree():
    decider = hybrid(completion=["verification_pass"], base_iterations=10, progress_threshold=0)
    decisions = drive(decider, chain(4, max_iterations=12, trees=["a", "b", "a", "b"], reports=[passing(0), passing(1), passing(0), passing(1)]))
    assert actions(decisions)[-1] == "fail" and decisions[-1].metadata["loop_type"] == "oscillating"
    assert decisions[-1].metadata["loop_iterations"] == [1, 2, 3, 4]


def test_hybrid_stops_on_the_same_failures_three_times():
    decider = hybrid(base_iterations=10)
    failing = report("pass", "fail", failing={"L1": [("pytest", 1)]})
    decisions = drive(decider, chain(4, max_iterations=12, reports=[failing] * 4))
    assert actions(decisions) == ["continue", "continue", "fail"]
    assert decisions[-1].metadata["loop_type"] == "semantic"
    assert decisions[-1].reason == "loop detected: the same checks failed in each of the last 3 iterations (L1 pytest exit 1)"


def test_hybrid_stops_when_the_branch_goes_back_to_an_old_commit():
    decider = hybrid(completion=["verification_pass"], base_iterations=10, progress_threshold=0)
    decisions = drive(decider, chain(3, max_iterations=12, commits=["c1", "c2", "c1"], reports=[passing(0), passing(1), passing(2)]))
    assert decisions[-1].metadata["loop_type"] == "exact"
    assert decisions[-1].reason == "loop detected: iteration 3 went back to commit c1 of iteration 1"


# ralph


def ralph(**settings) -> RalphDecider:
    return RalphDecider(settings)


def test_ralph_defaults():
    decider = ralph()
    assert (decider.max_iterations, decider.settings.min_iterations, decider.settings.window_size) == (10, 1, 3)
    assert decider.settings.similarity_threshold == 0.95
    assert decider.runs_verification is True
    assert ralph(skip_verification=True).runs_verification is False


def test_ralph_completes_on_an_agent_signal():
    decisions = drive(ralph(), chain(3, outputs=["working on it", "fixed the parser. TASK_COMPLETE"]))
    assert actions(decisions) == ["continue", "complete"]
    assert decisions[-1].metadata["signal"] == "TASK_COMPLETE" and decisions[-1].metadata["criterion"] == "agent_signal"
    assert decisions[-1].reason == "the agent signalled TASK_COMPLETE on iteration 2"


@pytest.mark.parametrize("output", ["[DONE]", "All good.\nDONE", "TASK_COMPLETED", "status: [COMPLETE]", "[TASK COMPLETE]"])
def test_ralph_signals(output):
    assert ralph().should_continue(ctx(1, output=output)).action == "complete"


@pytest.mark.parametrize("output", ["UNDONE", "the task was ABANDONED", "done, mostly", "not done yet", "DONE_LATER", "TASK_COMPLETENESS", "task_completeness"])
def test_ralph_not_signals(output):
    assert ralph().should_continue(ctx(1, output=output)).action == "continue"


@pytest.mark.parametrize(("output", "signal"), [("all done. task_complete.", "TASK_COMPLETE"), ("Task_Completed", "TASK_COMPLETED"),
                                                ("[done]", "[DONE]"), ("status: [Task Complete]", "[TASK COMPLETE]")])
def test_ralph_reads_signals_in_any_case_but_a_bare_done_only_in_capitals(output, signal):
    """As AgentGate's ralph (it upper-cases the output); a bare "done" is prose ("not done yet")."""
    decision = ralph().should_continue(ctx(1, output=output))
    assert decision.action == "complete" and decision.metadata["signal"] == signal
    assert legacy(ralph()).should_continue(ctx(1, output=output)).action == "continue"


def test_ralph_ignores_a_signal_before_the_minimum():
    decider = ralph(min_iterations=2)
    first = decider.should_continue(ctx(1, output="DONE"))
    assert first.action == "continue" and "before the minimum of 2 iterations" in first.reason
    assert decider.should_continue(ctx(2, output="DONE")).action == "complete"


def test_ralph_times_out_at_the_maximum_first():
    decision = ralph(max_iterations=2).should_continue(ctx(2, max_iterations=2, output="DONE", verification=passing(3)))
    assert decision.action == "timeout" and decision.reason == "reached the maximum of 2 iterations"


@pytest.mark.parametrize(
    ("third", "loops"),
    [
        ("a b c d", True),  # 2/4 = 0.5: at the threshold
        ("a b c d e", False),  # 2/5 = 0.4: below
        ("a b", True),  # identical: above
    ],
)
def test_ralph_similarity_threshold(third, loops):
    decider = ralph(similarity_threshold=0.5)
    decisions = drive(decider, chain(4, outputs=[third, third, third, "A, b!"]))
    assert actions(decisions)[-1] == ("fail" if loops else "continue")
    if loops:
        assert decisions[-1].metadata["loop_type"] == "similarity"
        assert decider.get_state()["loop_count"] == 1


def test_ralph_needs_a_full_window_of_similar_outputs():
    """window_size earlier outputs besides this one (AgentGate's): with a window of 4, the fifth same output."""
    decider = ralph(window_size=4)
    decisions = drive(decider, chain(6, max_iterations=10, outputs=["same"] * 6))
    assert actions(decisions) == ["continue"] * 4 + ["fail"]
    assert decisions[-1].reason == "the agent repeated itself: its output is at least 1.00 similar to each of the 4 before it (threshold 0.95)"
    assert actions(drive(legacy(ralph(window_size=4)), chain(6, max_iterations=10, outputs=["same"] * 6))) == ["continue"] * 3 + ["fail"]


def test_ralph_detects_loops_and_completes_only_by_the_criteria_it_is_given():
    """AgentGate's completionDetection for ralph: verification_pass and loop_detection by default;
    no_changes and ci_pass when listed; the agent's signal always."""
    repeating = chain(5, max_iterations=10, outputs=["same"] * 5)
    assert actions(drive(ralph(completion=["verification_pass"]), repeating)) == ["continue"] * 5
    passing_run = chain(2, reports=[passing(1, of=1)] * 2)
    assert actions(drive(ralph(completion=["loop_detection"]), passing_run)) == ["continue"] * 2
    unchanged = ralph(completion=["no_changes"]).should_continue(ctx(2, tree="t", previous_tree="t"))
    assert unchanged.action == "complete" and unchanged.metadata["criterion"] == "no_changes"
    assert ralph(completion=[]).should_continue(ctx(1, output="DONE")).action == "complete"


def test_ralph_one_different_output_in_the_window_is_no_loop():
    assert actions(drive(ralph(), chain(3, outputs=["same", "other thing", "same"]))) == ["continue"] * 3


def test_ralph_leaves_empty_outputs_out_of_the_window():
    decider = ralph()
    decisions = drive(decider, chain(6, max_iterations=10, outputs=["same", "", "same", "  ", "same", "same"]))
    assert actions(decisions) == ["continue"] * 5 + ["fail"]
    assert [o["iteration"] for o in decider.get_state()["outputs"]] == [3, 5, 6]
    assert decisions[1].metadata["similarity"] is None


def test_ralph_completes_when_verification_passes_unless_skipped():
    assert ralph().should_continue(ctx(1, verification=passing(2, of=2))).action == "complete"
    assert ralph(skip_verification=True).should_continue(ctx(1, verification=passing(2, of=2))).action == "continue"
    assert ralph(min_iterations=3).should_continue(ctx(2, verification=passing(2, of=2))).action == "continue"


def test_ralph_keeps_the_last_window_of_outputs_truncated():
    decider = ralph(similarity_threshold=1.0)
    drive(decider, chain(5, outputs=["x" * 5000 + f" {i}" for i in range(5)]))
    outputs = decider.get_state()["outputs"]
    assert [o["iteration"] for o in outputs] == [3, 4, 5]
    assert all(len(o["output"]) == OUTPUT_KEPT_CHARS for o in outputs)


def test_ralph_writes_its_state_into_the_workspace():
    decider = ralph(state_dir="./.ralph/")
    assert decider.settings.state_dir == ".ralph"
    drive(decider, chain(2, outputs=["one", "two"]))
    files = decider.workspace_files(3)
    assert sorted(files) == [".ralph/loop-state.json", ".ralph/metrics.json"]
    loop_state = json.loads(files[".ralph/loop-state.json"])
    assert loop_state["iteration"] == 3 and loop_state["mode"] == "ralph" and loop_state["state"] == decider.get_state()
    metrics = json.loads(files[".ralph/metrics.json"])
    assert metrics == {"iteration": 3, "iterations_done": 2, "decisions": {"continue": 2}, "last_similarity": 0.0, "loop_count": 0, "highest_level": None}
    assert files == decider.workspace_files(3)
    assert files[".ralph/metrics.json"] == json.dumps(metrics, sort_keys=True, indent=2) + "\n"
    assert ralph().workspace_files(3) == {}


@pytest.mark.parametrize("state_dir", ["/tmp/state", "../up", "a/../../b", "~/x", ".", ".git/ralph", ""])
def test_ralph_state_dir_must_be_inside_the_workspace(state_dir):
    with pytest.raises(ConfigError, match="loop mode 'ralph': setting 'state_dir'"):
        ralph(state_dir=state_dir)


def test_ralph_min_iterations_within_max():
    with pytest.raises(ConfigError, match=r"min_iterations \(4\) exceeds max_iterations \(3\)"):
        ralph(min_iterations=4, max_iterations=3)


# every mode: state persistence, JSON-ready decisions

SCENARIOS = {
    "fixed": ({"mode": "fixed", "max_iterations": 6}, chain(6, max_iterations=6, reports=[passing(i % 3) for i in range(6)])),
    "hybrid": (
        {"mode": "hybrid", "base_iterations": 3, "max_bonus_iterations": 3, "completion": ["verification_pass"]},
        chain(
            6, max_iterations=6, trees=["a", "b", "c", "c", "c", "c"], reports=[passing(0, of=4), passing(1, of=4), passing(2, of=4)] + [passing(3, of=4)] * 3
        ),
    ),
    "ralph": ({"mode": "ralph", "window_size": 3, "state_dir": "s"}, chain(6, outputs=["a b", "c d", "e f", "e f", "e f g", "e f"])),
}


@pytest.mark.parametrize("mode", sorted(SCENARIOS))
def test_a_restored_decider_continues_identically(mode):
    config, contexts = SCENARIOS[mode]
    original = registry.create_decider(config)
    expected = drive(original, contexts)
    for cut in range(len(expected)):
        first = registry.create_decider(config)
        head = drive(first, contexts[:cut])
        restored = registry.create_decider(config)
        restored.restore_state(json.loads(json.dumps(first.get_state())))
        assert head + drive(restored, contexts[cut:]) == expected, f"cut at {cut}"
        assert restored.get_state() == original.get_state()


@pytest.mark.parametrize("mode", sorted(SCENARIOS))
def test_decisions_are_json_ready_one_line_sentences(mode):
    config, contexts = SCENARIOS[mode]
    for decision in drive(registry.create_decider(config), contexts):
        json.dumps(decision.model_dump(mode="json", by_alias=True))
        assert "\n" not in decision.reason and decision.reason[0].islower()


def test_should_continue_only_reads_the_state():
    decider = registry.create_decider({"mode": "hybrid", "base_iterations": 10, "completion": ["verification_pass"]})
    context = ctx(1, verification=passing(0))
    before = decider.get_state()
    assert decider.should_continue(context) == decider.should_continue(context)
    assert decider.get_state() == before


def test_built_in_modes_satisfy_the_protocol():
    for mode in ("fixed", "hybrid", "ralph"):
        assert isinstance(registry.create_decider({"mode": mode}), LoopDecider)


# registry


def test_available_modes():
    assert registry.available_modes() == ["custom", "fixed", "hybrid", "ralph"]


def test_create_passes_the_settings():
    decider = registry.create_decider({"mode": "hybrid", "base_iterations": 4, "max_bonus_iterations": 0})
    assert isinstance(decider, HybridDecider) and decider.max_iterations == 4


def test_unknown_mode_names_the_available_ones():
    with pytest.raises(ConfigError) as e:
        registry.create_decider({"mode": "hybird"})
    assert str(e.value) == "unknown loop mode 'hybird'; available: custom, fixed, hybrid, ralph (did you mean 'hybrid'?)"
    with pytest.raises(ConfigError, match="^unknown loop mode 'zzz'; available: custom, fixed, hybrid, ralph$"):
        registry.create_decider({"mode": "zzz"})
    with pytest.raises(ConfigError, match="needs a mode"):
        registry.create_decider({"max_iterations": 3})


def test_bad_setting_names_mode_key_and_accepted_keys():
    with pytest.raises(ConfigError) as e:
        registry.create_decider({"mode": "hybrid", "base_iteration": 3})
    assert str(e.value) == (
        "loop mode 'hybrid': unknown setting 'base_iteration' (did you mean 'base_iterations'?); accepted settings: "
        "accept_partial_after, base_iterations, completion, loop_detection, max_bonus_iterations, min_verification_level, progress_threshold"
    )
    with pytest.raises(ConfigError, match=r"^loop mode 'fixed': setting 'max_iterations': Input should be greater than or equal to 1 \(got 0\)"):
        registry.create_decider({"mode": "fixed", "max_iterations": 0})
    with pytest.raises(ConfigError, match=r"'completion\[0\]': Input should be 'verification_pass', .* 'agent_signal' or 'loop_detection'"):
        registry.create_decider({"mode": "hybrid", "completion": ["deja_vu"]})
    with pytest.raises(ConfigError, match="setting 'module' is required"):
        registry.create_decider({"mode": "custom"})


def test_mode_settings():
    assert registry.mode_settings("fixed") == ["completion", "max_iterations"]
    assert registry.mode_settings("ralph") == [
        "completion", "max_iterations", "min_iterations", "similarity_threshold", "skip_verification", "state_dir", "window_size"]
    assert registry.mode_settings("custom") == ["config", "max_iterations", "module"]
    with pytest.raises(ConfigError, match="unknown loop mode"):
        registry.mode_settings("nope")


def test_registering_the_same_factory_again_is_a_no_op():
    registry.register_decider("fixed", FixedDecider)
    assert registry.available_modes() == ["custom", "fixed", "hybrid", "ralph"]
    with pytest.raises(StrategyError, match="loop mode 'fixed' is already registered"):
        registry.register_decider("fixed", HybridDecider)
