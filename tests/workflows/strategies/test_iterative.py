"""`iterative`'s decisions against scripted activities: when it refines, re-asks and stops."""

from __future__ import annotations

from tests.conftest import run_scripted
from tests.scripted import Script


async def test_an_unstructured_review_is_asked_again_and_a_structured_retry_counts(client, scripted_queue):
    script = Script(answers={"round/1/review": "Mostly fine; the names could be clearer.", "round/1/review/again": "1. Rename x.", "round/2/review": "No findings."})
    result = await run_scripted(client, scripted_queue, "iterative", script)
    assert script.keys() == ["round/1/work", "round/1/review", "round/1/review/again", "round/2/work", "round/2/review"]
    trail = result.instances[0].metadata["review_trail"]
    assert trail[0]["findings"] == ["Rename x."] and "unstructured" not in trail[0]
    assert "1. Rename x." in script.calls[3].task.prompt  # round 2 was told the finding
    assert result.instances[0].metadata["selection_reason"] == "the reviewer had no findings on round 2"


async def test_an_answer_that_stays_unstructured_is_the_feedback_and_never_ends_the_loop(client, scripted_queue):
    vague = "The change works but feels clumsy."
    script = Script(answers={"round/1/review(/again)?": vague})
    result = await run_scripted(client, scripted_queue, "iterative", script, params={"iterations": 2})
    trail = result.instances[0].metadata["review_trail"]
    assert trail[0] == {**trail[0], "findings": [vague], "unstructured": True}
    assert vague in script.calls[3].task.prompt and script.calls[3].key == "round/2/work"
    assert result.instances[0].key == "round/2/work" and len(trail) == 2
