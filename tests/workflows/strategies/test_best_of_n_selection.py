"""best-of-n's selection methods against scripted activities: tests written by agents (the
matrix, the tests that count for nothing, ties to the scorer), a judge's tournament (both orders,
draws, brackets, the judge calls bounded), the combination, `compare`'s picks and what each spent,
synthesis, and candidates of different agents (`ensemble`)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.conftest import run_scripted, start_scripted
from tests.scripted import BASE_COMMIT, Script, commit_of, until
from workflows.sdk.errors import ConfigError
from workflows.sdk.models import AnswerRequest, RunProgress
from workflows.sdk.trail import ComparisonRecord, TestRecord
from workflows.strategies import BUILTIN_STRATEGIES
from workflows.strategies.selection.spec import judge_calls
from workflows.strategies.selection.tournament import parse_verdict

T = "orchard_tests/writer_1/test_greet.py::"


def judged(ranking: list[int], n: int) -> dict[str, str]:
    """Judge answers of a judge that prefers the better of each pair by `ranking` (best first), in both orders."""
    answers = {}
    for a, b in itertools.combinations(range(1, n + 1), 2):
        better = a if ranking.index(a) < ranking.index(b) else b
        answers[f"judge/{a}-{b}/ab/[0-9]+"] = f'{{"winner": "{"A" if better == a else "B"}", "rationale": "{better} is right"}}'
        answers[f"judge/{a}-{b}/ba/[0-9]+"] = f'{{"winner": "{"A" if better == b else "B"}", "rationale": "{better} is right"}}'
    return answers


def matrix(result) -> dict[str, tuple[list[int], bool, bool]]:
    return {row.test.removeprefix(T): (row.passed, row.base, row.counted) for row in result.trail if isinstance(row, TestRecord)}


async def test_tests_rank_candidates_and_tests_that_check_nothing_or_fail_everywhere_count_for_nothing(client, scripted_queue):
    script = Script(test_outcomes={
        "candidate/1": {T + "test_hello": True, T + "test_name": False, T + "test_wrong": False, T + "test_trivial": True},
        "candidate/2": {T + "test_hello": True, T + "test_name": True, T + "test_wrong": False, T + "test_trivial": True},
        "candidate/3": {T + "test_hello": False, T + "test_wrong": False, T + "test_trivial": True},  # test_name did not even run
        "base": {T + "test_hello": False, T + "test_name": False, T + "test_wrong": False, T + "test_trivial": True},
    }, usage={"tests/writer/1": (100, 20, 0.5)})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "select": "tests"})
    winner = result.instances[0]
    assert winner.key == "candidate/2" and winner.selection.winner
    assert winner.selection.reason == "passed 2 of 2 counted tests (2 generated tests counted for nothing)"
    assert matrix(result) == {
        "test_hello": ([1, 2], False, True), "test_name": ([2], False, True),
        "test_trivial": ([1, 2, 3], True, False), "test_wrong": ([], False, False),
    }
    notes = {row.test.removeprefix(T): row.note for row in result.trail if isinstance(row, TestRecord)}
    assert notes["test_trivial"] == "passes on the base commit: it checks nothing" and notes["test_wrong"] == "fails on every candidate: taken for a wrong test"
    assert [c.metrics["tests_passed"] for c in sorted(result.instances, key=lambda c: c.key)] == [1, 2, 0]
    # The writer saw the task, not the candidates, and worked from the base; no scorer was needed.
    writer = script.call("tests/writer/1").task
    assert writer.prompt.startswith("You are writing tests for a coding task.") and "<task>\nadd a greeting\n</task>" in writer.prompt
    assert "orchard_tests/writer_1/" in writer.prompt and "diff of" not in writer.prompt and "candidate_" not in writer.prompt
    assert writer.base_branch == "main" and writer.import_policy != "never"
    assert not any(k.startswith("score/") for k in script.started_keys())
    # Every candidate and the base ran the writer's folder, from the writer's commit.
    runs = sorted((v.commit, tuple((s.path, s.commit) for s in v.tests)) for v in script.checks)
    folder = (("orchard_tests/writer_1", commit_of(script.call("tests/writer/1").run_id, "tests/writer/1")),)
    assert runs == sorted([(c.commit, folder) for c in result.instances] + [(BASE_COMMIT, folder)])
    assert [(p.method, p.candidate, p.input_tokens, p.cost_usd) for p in result.selections] == [("tests", 2, 100, 0.5)]
    assert result.cost_usd == 0.5  # the writer's cost is in the run's totals


async def test_a_tie_on_tests_goes_to_the_scorer(client, scripted_queue):
    same = {T + "test_hello": True}
    script = Script(test_outcomes={"candidate/[0-9]": same, "base": {T + "test_hello": False}},
                    answers={"score/1/.*": '{"score": 3}', "score/2/.*": '{"score": 8}'})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2, "select": "tests"})
    assert result.instances[0].key == "candidate/2"
    assert result.instances[0].selection.reason == "passed 1 of 1 counted tests, tie among 2 candidates broken by the scorer (score 8/10)"


async def test_a_round_robin_judges_every_pair_in_both_orders_and_the_trail_keeps_every_verdict(client, scripted_queue):
    script = Script(answers=judged([3, 1, 2], 3), usage={"judge/.*": (10, 5, 0.01)})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "select": "tournament"})
    assert result.instances[0].key == "candidate/3"
    assert result.instances[0].selection.reason == "won the round robin with 2 of 2 points (3 pairings, each judged in both orders)"
    judges = sorted(k for k in script.started_keys() if k.startswith("judge/"))
    assert judges == [f"judge/{p}/{o}/1" for p in ("1-2", "1-3", "2-3") for o in ("ab", "ba")]
    ab, ba = script.call("judge/1-3/ab/1").task, script.call("judge/1-3/ba/1").task
    assert ab.prompt.startswith("You are judging two candidate solutions to a coding task.")
    assert "<candidate_a>\ndiff of candidate/1\n</candidate_a>" in ab.prompt and "<candidate_b>\ndiff of candidate/3\n</candidate_b>" in ab.prompt
    assert "<candidate_a>\ndiff of candidate/3\n</candidate_a>" in ba.prompt and "<task>\nadd a greeting\n</task>" in ba.prompt
    assert ab.import_policy == "never"
    rows = [row for row in result.trail if isinstance(row, ComparisonRecord)]
    assert sorted((r.a, r.b, r.first, r.second, r.winner) for r in rows) == [(1, 2, 1, 1, 1), (1, 3, 3, 3, 3), (2, 3, 3, 3, 3)]
    assert all("is right" in r.rationale and r.tokens == 30 for r in rows)
    assert result.selections[0].input_tokens == 60 and result.selections[0].cost_usd == 0.06


async def test_a_judge_that_always_prefers_the_first_shown_gives_draws(client, scripted_queue):
    result = await run_scripted(client, scripted_queue, "best-of-n", Script(), params={"n": 2, "select": "tournament"})  # the scripted judge says A
    (row,) = [row for row in result.trail if isinstance(row, ComparisonRecord)]
    assert (row.first, row.second, row.winner) == (1, 2, None)
    assert result.instances[0].key == "candidate/1"
    assert result.instances[0].selection.reason.endswith("tie among 2 candidates broken by first")


async def test_single_elimination_asks_for_n_minus_one_pairings(client, scripted_queue):
    script = Script(answers=judged([4, 2, 1, 3], 4))
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 4, "select": "tournament", "bracket": "single"})
    assert result.instances[0].key == "candidate/4"
    rows = [(r.round, r.a, r.b, r.winner) for r in result.trail if isinstance(r, ComparisonRecord)]
    assert sorted(rows) == [(1, 1, 2, 2), (1, 3, 4, 4), (2, 2, 4, 4)]
    assert len([k for k in script.started_keys() if k.startswith("judge/")]) == 6 == judge_calls(4, "single")
    assert result.instances[0].selection.reason == "won the single-elimination bracket of 4 in 2 rounds"


async def test_tests_then_a_tournament_among_those_tied_at_the_top(client, scripted_queue):
    script = Script(test_outcomes={"candidate/[13]": {T + "a": True}, "candidate/2": {T + "a": False}, "base": {}},
                    answers=judged([2, 3, 1], 3))
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3, "select": "tests,tournament"})
    assert result.instances[0].key == "candidate/3"  # 2 is the judge's favourite, but failed the test
    assert sorted(k for k in script.started_keys() if k.startswith("judge/")) == ["judge/1-3/ab/1", "judge/1-3/ba/1"]
    assert result.instances[0].selection.reason.startswith("passed 1 of 1 counted tests, tie among 2 candidates; won the round robin")


async def test_compare_picks_with_every_spec_on_the_same_candidates_and_counts_shared_agents_in_each(client, scripted_queue):
    script = Script(test_outcomes={"candidate/1": {T + "a": True}, "candidate/2": {T + "a": False}, "base": {}},
                    answers={**judged([2, 1], 2), "score/1/.*": '{"score": 2}', "score/2/.*": '{"score": 9}'},
                    usage={"tests/writer/.*": (7, 1, 0.25), "judge/.*": (3, 1, 0.125), "score/.*": (2, 2, 0.0625)})
    result = await run_scripted(client, scripted_queue, "best-of-n", script,
                                params={"n": 2, "compare": "tests,score,tournament,tests+tournament"})
    picks = {p.method: (p.candidate, p.input_tokens, p.output_tokens, p.cost_usd) for p in result.selections}
    assert picks == {"tests": (1, 7, 1, 0.25), "score": (2, 4, 4, 0.125), "tournament": (2, 6, 2, 0.25), "tests+tournament": (1, 7, 1, 0.25)}
    assert [p.method for p in result.selections] == ["tests", "score", "tournament", "tests+tournament"]
    assert result.instances[0].key == "candidate/1" and result.instances[0].selection.winner  # the first spec's pick wins
    assert sorted(k for k in script.started_keys() if k.startswith("candidate/")) == ["candidate/1", "candidate/2"]  # the candidates ran once
    assert result.cost_usd == 0.25 + 2 * 0.125 + 2 * 0.0625  # every agent counted once in the run's totals
    assert all(c.selection.candidate in (1, 2) and c.branch_name for c in result.instances)


async def test_a_synthesis_that_passes_what_the_winner_passed_replaces_it(client, scripted_queue):
    script = Script(test_outcomes={"candidate/1": {T + "a": True, T + "b": False, T + "c": True}, "candidate/2": {T + "a": False, T + "b": True},
                                   "synthesis": {T + "a": True, T + "b": True, T + "c": True}, "base": {}})
    result = await run_scripted(client, scripted_queue, "best-of-n", script,
                                params={"n": 2, "select": "tests", "synthesize": True, "verify": "pytest -q"})
    synth, winner, other = result.instances
    assert synth.key == "synthesis" and synth.selection.winner and not winner.selection.winner
    assert synth.selection.reason == ("synthesized from candidates 1, 2 on candidate 1's branch; passed `pytest -q`, "
                                      "passed 3 of 3 counted tests (the winner 2)")
    task = script.call("synthesis").task
    assert task.base_branch == winner.branch_name and task.prompt.startswith("You are combining candidate solutions to a coding task.")
    assert "<candidate_2>\ndiff of candidate/2\n</candidate_2>" in task.prompt
    assert f"candidate 2 passed 1 of 3 generated tests; failed: {T}a, {T}c" in task.prompt


async def test_a_synthesis_failing_a_test_the_winner_passed_leaves_the_winner_standing(client, scripted_queue):
    script = Script(test_outcomes={"candidate/1": {T + "a": True}, "candidate/2": {T + "a": False, T + "b": True},
                                   "synthesis": {T + "a": False, T + "b": True}, "base": {}},
                    answers={"score/.*": '{"score": 5}'})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2, "select": "tests", "synthesize": True})
    winner, synth, _ = result.instances
    assert winner.key == "candidate/1" and winner.selection.winner and not synth.selection.winner
    assert synth.selection.ineligible == f"the synthesis failed 1 generated tests the winner passed ({T}a); candidate 1 stands"
    assert winner.selection.reason.endswith(f"; the synthesis failed 1 generated tests the winner passed ({T}a), so it stands")


async def test_an_ensemble_runs_each_agent_and_says_which_each_candidate_was(client, scripted_queue):
    agents = [{"id": "claude-opus", "plugin": "claude-code", "model": "opus"}, {"id": "codex", "plugin": "codex", "agent_command": "codex-cli"}]
    result = await run_scripted(client, scripted_queue, "best-of-n", Script(answers={"score/1/.*": '{"score": 4}', "score/2/.*": '{"score": 7}'}),
                                params={"ensemble": agents})
    assert len([c for c in result.instances if c.selection.candidate]) == 2  # no n: one candidate per agent
    by_key = {c.key: c for c in result.instances}
    assert by_key["candidate/1"].variant.id == "claude-opus" and by_key["candidate/2"].variant.id == "codex"
    assert result.instances[0].key == "candidate/2"
    assert [c.plugin for c in result.instances if c.key.startswith("candidate/")] == ["codex", "claude-code"]


def test_the_settings_are_checked_before_the_run_starts():
    normalize = BUILTIN_STRATEGIES["best-of-n"].normalize_params
    with pytest.raises(ConfigError, match="select: unknown method 'vote'"):
        normalize({"select": "vote"})
    with pytest.raises(ConfigError, match="'tournament\\+tests' is not a combination"):
        normalize({"compare": "score,tournament+tests"})
    with pytest.raises(ConfigError, match="may ask for 60 judge calls .* past max_judge_calls=20"):
        normalize({"n": "6", "select": "tournament", "max_judge_calls": "20"})
    assert normalize({"n": "6", "select": "tournament", "bracket": "single", "max_judge_calls": "20"})["bracket"] == "single"
    with pytest.raises(ConfigError, match="bracket"):
        normalize({"bracket": "swiss"})


@pytest.mark.parametrize("text, expected", [
    ('{"winner": "B", "rationale": "handles empty input"}', ("B", "handles empty input")),
    ('I compared them.\n{"winner": "draw"}', ("draw", "")),
    ('{"winner": "candidate A"}', None),
])
def test_verdicts_are_parsed(text, expected):
    assert parse_verdict(text) == expected


def test_the_judge_calls_are_bounded():
    assert [judge_calls(n, "auto") for n in (1, 2, 3, 6, 7, 10)] == [0, 2, 6, 30, 12, 18]
    assert judge_calls(7, "round-robin") == 42


async def test_a_person_approving_a_tournaments_pick_sees_how_each_candidate_stood(client, scripted_queue):
    handle = await start_scripted(client, scripted_queue, "best-of-n", Script(answers=judged([2, 1], 2)),
                                  params={"n": 2, "select": "tournament", "approve": True})
    progress = await until(lambda: _asked(handle))
    (question,) = progress.questions
    assert question.text.startswith("best-of-n picked candidate 2 (won the round robin with 1 of 1 points")
    assert "(1 tournament points)" in question.text and "(0 tournament points)" in question.text
    await handle.execute_update("answer", AnswerRequest(choice="1", by="tester"), result_type=object)
    result = await handle.result()
    assert result.instances[0].key == "candidate/1" and result.instances[0].selection.reason.startswith("chosen by tester over candidate 2")
    assert result.selections[0].candidate == 2  # what the method picked, whatever the person chose


async def _asked(handle):
    progress = await handle.query("progress", result_type=RunProgress)
    return progress if progress.questions else None


async def test_the_judge_calls_bound_is_said_while_the_candidates_still_run(client, scripted_queue):
    slow = asyncio.Event()
    handle = await start_scripted(client, scripted_queue, "best-of-n", Script(holds={"candidate/2": slow}), params={"n": 4, "select": "tournament"})
    try:
        progress = await until(lambda: _phase(handle))
        assert progress.phase == "running 4 candidates (the tournament will ask for at most 24 judge calls)"
    finally:
        slow.set()
    await handle.result()


async def _phase(handle):
    progress = await handle.query("progress", result_type=RunProgress)
    return progress if progress.phase.startswith("running 4") else None


async def test_a_candidate_whose_scorer_never_answers_still_counts_for_the_other_methods(client, scripted_queue):
    script = Script(answers={"score/1/.*": "no idea", "score/2/.*": '{"score": 4}', **judged([1, 2], 2)})
    result = await run_scripted(client, scripted_queue, "best-of-n", script, params={"n": 2, "compare": "score,tournament", "score_attempts": 1})
    assert [(p.method, p.candidate) for p in result.selections] == [("score", 2), ("tournament", 1)]
    assert result.instances[0].key == "candidate/2" and "score" not in next(c for c in result.instances if c.key == "candidate/1").metrics
