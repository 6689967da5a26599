"""`iterative`'s decisions against scripted activities: when it refines, re-asks and stops."""

from __future__ import annotations

import pytest

from tests.conftest import run_scripted
from tests.scripted import Script
from workflows.strategies.iterative import parse_findings


async def test_an_unstructured_review_is_asked_again_and_a_structured_retry_counts(client, scripted_queue):
    script = Script(answers={"round/1/review": "Mostly fine; the names could be clearer.", "round/1/review/again": "1. Rename x.",
                             "round/2/review": "No findings."})
    result = await run_scripted(client, scripted_queue, "iterative", script)
    assert script.started_keys() == ["round/1/work", "round/1/review", "round/1/review/again", "round/2/work", "round/2/review"]
    trail = result.instances[0].metadata["review_trail"]
    assert trail[0]["findings"] == ["Rename x."] and "unstructured" not in trail[0]
    assert "1. Rename x." in script.calls[3].task.prompt  # round 2 was told the finding
    assert result.instances[0].selection.reason == "the reviewer had no findings on round 2"


async def test_an_answer_that_stays_unstructured_is_the_feedback_and_never_ends_the_loop(client, scripted_queue):
    vague = "The change works but feels clumsy."
    script = Script(answers={"round/1/review(/again)?": vague})
    result = await run_scripted(client, scripted_queue, "iterative", script, params={"iterations": 2})
    trail = result.instances[0].metadata["review_trail"]
    assert trail[0] == {**trail[0], "findings": [vague], "unstructured": True}
    assert vague in script.calls[3].task.prompt and script.calls[3].key == "round/2/work"
    assert result.instances[0].key == "round/2/work" and len(trail) == 2


async def test_iterative_refines_on_the_last_rounds_branch_until_the_reviewer_has_no_findings(client, scripted_queue):
    script = Script(answers={"round/1/review": "1. The greeting has no test.\n2. The README does not\n   mention it."})
    result = await run_scripted(client, scripted_queue, "iterative", script)
    assert result.status == "success" and result.instances_run == 4  # two rounds of work + review
    assert script.started_keys() == ["round/1/work", "round/1/review", "round/2/work", "round/2/review"]
    (final,) = result.instances
    assert final.key == "round/2/work"
    trail = final.metadata["review_trail"]
    assert [t["round"] for t in trail] == [1, 2]
    assert trail[0]["findings"] == ["The greeting has no test.", "The README does not mention it."]
    assert trail[1]["findings"] == [] and final.metadata["rounds"] == 2
    assert final.selection.reason == "the reviewer had no findings on round 2"
    round_1 = script.call("round/1/work")
    assert trail[0]["branch"] == round_1.branch and trail[0]["commit"] != trail[1]["commit"]
    # Round 1 started from the base; round 2 from round 1's branch, told the findings, numbered.
    assert round_1.task.base_branch == "main" and round_1.task.prompt == "add a greeting"
    round_2 = script.call("round/2/work").task
    assert round_2.base_branch == round_1.branch
    assert "1. The greeting has no test.\n2. The README does not mention it." in round_2.prompt
    # Each reviewer read its round's branch and imported nothing.
    for n in (1, 2):
        review = script.call(f"round/{n}/review").task
        assert review.import_policy == "never" and review.base_branch == script.call(f"round/{n}/work").branch


async def test_iterative_stops_when_a_round_commits_nothing_new(client, scripted_queue):
    script = Script(answers={"round/.*/review": "1. Add more tests."}, unchanged=["round/2/work"])
    result = await run_scripted(client, scripted_queue, "iterative", script)
    (final,) = result.instances
    assert final.key == "round/1/work" and result.instances_run == 3
    assert final.selection.reason == "round 2 committed nothing new"
    assert final.branch_name == script.call("round/1/work").branch
    nothing = await run_scripted(client, scripted_queue, "iterative", Script(unchanged=["round/1/work"]))
    assert nothing.instances[0].key == "round/1/work" and nothing.instances_run == 1
    assert nothing.instances[0].selection.reason == "round 1 committed nothing new"


async def test_iterative_keeps_the_last_good_round_when_a_later_one_fails(client, scripted_queue):
    script = Script(answers={"round/.*/review": "1. Add more tests."}, failures={"round/3/work": "agent exited with code 1: out of credits"})
    result = await run_scripted(client, scripted_queue, "iterative", script)
    (final,) = result.instances
    assert result.status == "success" and final.key == "round/2/work"
    assert final.selection.reason.startswith("round 3 failed: agent exited with code 1: out of credits")
    assert script.call("round/3/work").task.base_branch == script.call("round/2/work").branch
    assert script.call("round/2/work").task.base_branch == script.call("round/1/work").branch


async def test_iterative_stops_when_a_review_fails(client, scripted_queue):
    script = Script(answers={"round/1/review": "1. Add more tests."}, failures={"round/2/review": "agent exited with code 1: reviewer down"})
    result = await run_scripted(client, scripted_queue, "iterative", script)
    (final,) = result.instances
    assert result.status == "success" and final.key == "round/2/work"
    assert final.selection.reason == "the review of round 2 failed: agent exited with code 1: reviewer down"


async def test_iterative_stops_after_its_iterations_and_fails_when_round_one_fails(client, scripted_queue):
    capped = await run_scripted(client, scripted_queue, "iterative", Script(answers={"round/.*/review": "1. Still not right."}), params={"iterations": 2})
    assert capped.instances[0].selection.reason == "ran all 2 rounds; 1 findings remain"
    assert capped.instances_run == 4
    failed = await run_scripted(client, scripted_queue, "iterative", Script(failures={"round/1/work": "agent exited with code 1: boom"}))
    assert failed.status == "failed" and failed.instances[0].error.endswith("boom") and failed.instances_run == 1


@pytest.mark.parametrize(
    "text, findings",
    [
        ("No findings.", []),
        ("1. Missing test.\n2) Typo in README\n   (line 3).\nOverall fine.", ["Missing test.", "Typo in README (line 3)."]),
        ("Findings:\n  1. Indented works too", ["Indented works too"]),
        ("Looks mostly fine, but the names could be clearer.", None),
        ("", None),
    ],
)
def test_review_findings_are_parsed(text, findings):
    assert parse_findings(text) == findings
