"""`best-of-n`'s decisions against scripted activities: which candidate wins and why, ties,
verification, failures and require_min_success, re-asking a scorer. The real branches and edits
are in test_builtins.py."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orchard_common.sandbox import sandbox_runner
from tests.conftest import run_scripted, start_scripted
from tests.scripted import BASE_COMMIT, Script
from workflows.sdk.errors import ConfigError
from workflows.strategies import BUILTIN_STRATEGIES
from workflows.strategies.best_of_n import DIVERSITY_HINTS, parse_score


def scores(**by_candidate: float) -> dict[str, str]:
    """Scorer answers: scores(c1=4, c2=9) -> candidate 1's scorer answers 4, candidate 2's 9."""
    return {f"score/{name[1:]}/[0-9]+": f'{{"score": {value}, "rationale": "because {name}"}}' for name, value in by_candidate.items()}


async def test_every_candidate_is_scored_read_only_and_the_highest_score_wins(client, scripted_queue):
    script = Script(answers=scores(c1=4, c2=9, c3=6))
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3})
    assert result.status == "success" and result.instances_run == 6  # 3 candidates + 3 read-only scorers
    assert [c.key for c in result.instances] == ["candidate/2", "candidate/1", "candidate/3"]  # the winner first
    winner, *others = result.instances
    assert winner.selection.winner is True and not any(c.selection.winner for c in others)
    assert winner.selection.reason == "highest score 9/10"
    assert [c.metrics["score"] for c in result.instances] == [9.0, 4.0, 6.0]
    assert winner.selection.score_rationale == "because c2"
    # Each candidate got its own approach hint; each scorer looked at its candidate's branch without importing.
    prompts = [script.call(f"candidate/{i}").task.prompt for i in (1, 2, 3)]
    assert [p.split("Approach hint for this attempt: ")[1] for p in prompts] == list(DIVERSITY_HINTS[:3])
    for c in result.instances:
        scorer = script.call(f"score/{c.selection.candidate}/1").task
        assert scorer.import_policy == "never" and scorer.base_branch == c.branch_name
        assert "<task>\nadd a greeting\n</task>" in scorer.prompt and f"git diff {BASE_COMMIT}..HEAD" in scorer.prompt


async def test_a_candidate_failing_verification_cannot_win(client, scripted_queue):
    script = Script(answers=scores(c1=5, c2=10, c3=3), failing_commits=["candidate/2"])
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "verify": "pytest -q"})
    by_key = {c.key: c for c in result.instances}
    rejected = by_key["candidate/2"]
    assert rejected.metrics["verify_passed"] is False and rejected.metrics["verify_exit_code"] == 1
    assert "score" not in rejected.metrics
    assert sorted(script.started_keys()) == ["candidate/1", "candidate/2", "candidate/3", "score/1/1", "score/3/1"]  # candidate 2 never scored
    assert rejected.selection.ineligible == "verification failed (exit 1)" and not rejected.selection.winner
    assert rejected.verification.output == "check failed"  # the end of what it said, for `orchard show`
    assert by_key["candidate/1"].verification.output is None
    assert by_key["candidate/1"].metrics["verify_passed"] is True
    assert result.instances[0].key == "candidate/1"
    assert result.instances[0].selection.reason == "highest score 5/10, passed `pytest -q`"
    # The command ran once on each candidate's own commit.
    assert sorted((v.command, v.commit) for v in script.checks) == sorted(("pytest -q", c.commit) for c in result.instances)


async def test_a_failing_candidate_leaves_the_others_to_finish(client, scripted_queue):
    script = Script(answers=scores(c1=3, c3=7), failures={"candidate/2": "agent exited with code 1: rate limited"})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3})
    assert result.status == "partial" and result.instances_run == 3 + 2  # no scorer for the failed one
    failed = next(c for c in result.instances if c.key == "candidate/2")
    assert not failed.success and "rate limited" in failed.error and failed.branch_name is None
    assert [c.key for c in result.instances if c.success] == ["candidate/3", "candidate/1"]
    assert result.instances[0].selection.winner is True


async def test_require_min_success_fails_the_run_with_the_reason(client, scripted_queue):
    script = Script(failures={"candidate/2": "agent exited with code 1: boom"})
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "require_min_success": 3})
    assert err.value.cause.message == "only 2 of 3 candidates succeeded; require_min_success=3"
    enough = await run_scripted(client, scripted_queue, "best-of-n", Script(failures=script.failures), params={"n": 3, "require_min_success": 2})
    assert enough.status == "partial" and enough.instances[0].selection.winner is True


async def test_a_bad_scorer_answer_is_asked_again(client, scripted_queue):
    script = Script(answers={"score/[0-9]+/1": "I like it a lot", **scores(c1=6, c2=8)})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2})
    assert result.instances_run == 2 + 2 * 2
    assert sorted(script.started_keys()) == ["candidate/1", "candidate/2", "score/1/1", "score/1/2", "score/2/1", "score/2/2"]
    assert all("score" in c.metrics for c in result.instances) and result.instances[0].key == "candidate/2"
    again = script.call("score/1/2").task
    assert "Your previous answer could not be used:\nI like it a lot\n" in again.prompt and again.import_policy == "never"


async def test_a_scorer_that_never_answers_usably_leaves_no_candidate_to_win(client, scripted_queue):
    script = Script(answers={"score/.*": "no idea"})
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2, "score_attempts": 3})
    assert err.value.cause.message == (
        "no candidate could win (candidate 1: the scorer gave no usable score; candidate 2: the scorer gave no usable score)")
    assert len(script.started_keys()) == 2 + 2 * 3


async def test_ties_are_broken_as_configured(client, scripted_queue):
    tied = {"score/.*": '{"score": 5}'}
    first = await run_scripted(client, scripted_queue, "best-of-n", Script(answers=tied), params={"n": 3, "tie_break": "first"})
    assert first.instances[0].key == "candidate/1"
    assert first.instances[0].selection.reason == "highest score 5/10, tie among 3 candidates broken by first"
    rand = await run_scripted(client, scripted_queue, "best-of-n", Script(answers=tied), params={"n": 3, "tie_break": "random"})
    assert rand.instances[0].selection.reason == "highest score 5/10, tie among 3 candidates broken by random"
    assert rand.instances[0].selection.winner is True and sum(c.selection.winner for c in rand.instances) == 1


async def test_a_random_tie_break_differs_from_run_to_run_and_replays_as_it_went(client, scripted_queue):
    """Each run draws from its own seed: over eight runs of three tied candidates the winners
    differ (all eight alike by chance: 1 in 2,187), yet the pick is the run's own: its history replays
    without a divergence."""
    tied = {"score/.*": '{"score": 5}'}
    handles = [await start_scripted(client, scripted_queue, "best-of-n", Script(answers=tied), params={"n": 3, "tie_break": "random"}) for _ in range(8)]
    winners = [(await h.result()).instances[0].key for h in handles]
    assert len(set(winners)) > 1, winners
    replayer = Replayer(workflows=[BUILTIN_STRATEGIES["best-of-n"].workflow_class()], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    for handle in handles[:2]:
        replayed = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
        assert replayed.replay_failure is None


def test_best_of_n_checks_its_config():
    with pytest.raises(ConfigError, match="require_min_success"):
        BUILTIN_STRATEGIES["best-of-n"].normalize_params({"n": "2", "require_min_success": "3"})
    with pytest.raises(ConfigError, match="tie_break"):
        BUILTIN_STRATEGIES["best-of-n"].normalize_params({"tie_break": "coin"})


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"score": 7, "rationale": "ok"}', (7.0, "ok")),
        ('Here you go:\n{"score": 12.5, "rationale": "great"}', (10.0, "great")),
        ('{"score": -3}', (0.0, "")),
        ("seven out of ten", None),
        ('{"score": "7"}', None),
    ],
)
def test_scores_are_parsed_and_clamped(text, expected):
    assert parse_score(text, 10) == expected


async def test_a_candidates_score_shows_while_the_others_still_work(client, scripted_queue):
    import asyncio

    from tests.conftest import start_scripted
    from workflows.sdk.models import RunProgress

    slow = asyncio.Event()
    script = Script(answers=scores(c1=4, c2=9, c3=6), holds={"candidate/3": slow})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3})
    try:
        for _ in range(100):
            progress = await handle.query("progress", result_type=RunProgress)
            shown = {p.key: (p.status, p.metrics.get("score"), p.started_at is not None) for p in progress.instances if p.key.startswith("candidate/")}
            if shown.get("candidate/1", (0, None))[1] is not None and shown.get("candidate/2", (0, None))[1] is not None:
                break
            await asyncio.sleep(0.1)
        assert shown == {"candidate/1": ("success", 4.0, True), "candidate/2": ("success", 9.0, True), "candidate/3": ("running", None, True)}
    finally:
        slow.set()
    assert (await handle.result()).instances[0].key == "candidate/2"
