"""What `orchard prune` may remove and why it keeps the rest: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from client.landing.pruning import RunState, plan_prune, run_of

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_prune_takes_only_orchard_branches_of_runs_that_are_over_and_says_why_it_keeps_each_other():
    runs = {"run_a": RunState("run_a", False, NOW - timedelta(days=9), "success", ("refs/orchard/prompts/p1", "refs/orchard/prompts/shared")),
            "run_b": RunState("run_b", True, None, "running", ("refs/orchard/prompts/shared",)),
            "run_c": RunState("run_c", False, NOW - timedelta(hours=1), "failed"),
            "run_d": RunState("run_d", False, NOW - timedelta(days=30), "success")}
    branches = ["orchard/simple/run_a/k1", "orchard/run_a-k0123abcd", "orchard/simple/run_b/k1", "orchard/simple/run_c/k1", "orchard/simple/run_d/k1",
                "orchard/simple/run_e/k1", "feature"]
    plan = plan_prune(branches, runs, {"orchard/simple/run_d/k1"}, NOW, timedelta(days=7), keep_landed=False, landed=set())
    assert plan.branches == {"orchard/simple/run_a/k1": "run_a", "orchard/run_a-k0123abcd": "run_a"}
    assert plan.kept == {"orchard/simple/run_b/k1": "its run is still running",
                         "orchard/simple/run_c/k1": "its run ended less than 7d ago (2026-12-06 11:00 UTC)",
                         "orchard/simple/run_d/k1": "checked out", "orchard/simple/run_e/k1": "no run Temporal knows made it (name its run to prune it)",
                         "feature": "not an Orchard branch"}
    assert plan.runs == ["run_a"] and plan.prompt_refs == ["refs/orchard/prompts/p1"]  # the shared one is a running run's too
    landed = plan_prune(branches, runs, set(), NOW, None, keep_landed=True, landed={"run_a"})
    assert "orchard/simple/run_a/k1" not in landed.branches and landed.kept["orchard/simple/run_a/k1"] == "its run landed (--keep-landed)"
    named = plan_prune(branches, runs, set(), NOW, None, keep_landed=False, landed=set(), named=["run_e"])
    assert named.branches == {"orchard/simple/run_e/k1": "run_e"} and named.runs == ["run_e"] and named.kept == {"feature": "not an Orchard branch"}
    assert run_of("orchard/runbook/build/run_a", ["run_a"]) == "run_a" and run_of("orchard/simple/run_ab/k1", ["run_a"]) is None
