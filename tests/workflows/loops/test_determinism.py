"""Property: every mode answers the same sequence of contexts with the same decisions, whether run
twice or restored from its state part way, and its decisions keep the loop's invariants."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workflows.loops.builders import ctx, drive, passing
from workflows.loops import registry
from workflows.loops.models import CommandReport, IterationContext

CONFIGS = [
    {"mode": "fixed", "max_iterations": 4},
    {"mode": "hybrid"},
    {
        "mode": "hybrid",
        "base_iterations": 2,
        "max_bonus_iterations": 4,
        "progress_threshold": 0.3,
        "completion": ["agent_signal", "ci_pass", "verification_pass"],
        "min_verification_level": "L1",
        "accept_partial_after": 3,
    },
    {"mode": "ralph", "max_iterations": 6, "similarity_threshold": 0.5, "state_dir": ".ralph"},
    {"mode": "ralph", "min_iterations": 3, "window_size": 2, "skip_verification": True},
    {"mode": "custom", "module": "tests.workflows.loops.custom_modes.reach_level", "config": {"target": "L2"}},
    {"mode": "fixed", "max_iterations": 6, "completion": ["no_changes", "loop_detection", "ci_pass"]},
    {"mode": "hybrid", "completion": ["loop_detection", "agent_signal"], "progress_threshold": 0.5, "base_iterations": 1},
    {"mode": "ralph", "window_size": 2, "completion": ["loop_detection", "no_changes"]},
    {"mode": "custom", "module": "tests.workflows.loops.custom_modes.agentgate_style", "config": {"patience": 2}},
]

iterations = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # tree
        st.sampled_from(["x", "y", "z"]),  # commit: repeats exercise the exact loop
        st.none() | st.integers(0, 3),  # levels passed of 3; None: no verification
        st.sampled_from(["", "working on it", "working on the parser", "DONE", "UNDONE", "tests pass TASK_COMPLETE"]),
        st.booleans(),  # CI passed
    ),
    min_size=1,
    max_size=8,
)


def contexts(specs: list[tuple], max_iterations: int) -> list[IterationContext]:
    result = []
    for i, (tree, commit, passed, output, ci) in enumerate(specs, start=1):
        previous_tree, previous_commit = (specs[i - 2][0], specs[i - 2][1]) if i > 1 else ("base", "base")
        result.append(
            ctx(
                i,
                max_iterations=max_iterations,
                tree=tree,
                commit=commit,
                previous_tree=previous_tree,
                previous_commit=previous_commit,
                verification=None if passed is None else passing(passed),
                output=output,
                ci=CommandReport(command="ci", passed=ci),
            )
        )
    return result


@settings(max_examples=60, deadline=None, database=None)
@given(config=st.sampled_from(CONFIGS), specs=iterations, cut=st.integers(0, 8), extension=st.integers(0, 2))
def test_same_contexts_same_decisions(config, specs, cut, extension):
    sequence = contexts(specs, registry.create_decider(config).max_iterations + extension)
    expected = drive(registry.create_decider(config), sequence)
    assert drive(registry.create_decider(config), sequence) == expected

    first = registry.create_decider(config)
    head = drive(first, sequence[:cut])
    if head and not head[-1].should_continue:
        return
    restored = registry.create_decider(config)
    restored.restore_state(json.loads(json.dumps(first.get_state())))
    assert head + drive(restored, sequence[len(head) :]) == expected

    for decision in expected:
        assert decision.should_continue == (decision.action == "continue")
        json.dumps(decision.model_dump(mode="json", by_alias=True))
    assert all(d.should_continue for d in expected[:-1])
    last = sequence[len(expected) - 1]
    assert last.iteration < last.max_iterations or not expected[-1].should_continue, "continued past the maximum"
