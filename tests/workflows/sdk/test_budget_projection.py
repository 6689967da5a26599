"""A budget at full parallelism (policy finish): the first instance runs alone so the run learns
what one costs, then new ones start only while what was spent plus what the running ones are
expected to spend is under the budget; best-of-n keeps a reserve for its selection, whose calls
are never kept from starting, so a run stopped by its budget still picks among its candidates
(scripted activities)."""

from __future__ import annotations

import asyncio

from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from workflows.sdk.budget import Budget, BudgetGuard, InstanceSpend
from workflows.sdk.models import RunProgress, RunTotals
from workflows.sdk.projection import Reserve
from workflows.sdk.visibility import SA_OUTCOME


async def _progress(handle) -> RunProgress:  # type: ignore[no-untyped-def]
    return await handle.query("progress", result_type=RunProgress)


async def test_six_at_once_stop_within_the_budget_plus_one_instance(client, scripted_queue):
    first = asyncio.Event()
    script = Script(holds={"gen/1": first}, usage={"gen/.*": (100, 10, 1.0)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 6}, max_parallel=8, run={"budget": Budget(max_cost=2.5)})
    await until(lambda: script.calls)
    await asyncio.sleep(0.3)
    progress = await _progress(handle)
    assert script.started_keys() == ["gen/1"] and progress.phase == "budget: starting one gen first to learn its cost"
    first.set()
    result = await final_result(handle)
    # $1 spent: gen/2 starts ($1 < $2.5), gen/3 too ($1 + gen/2's expected $1 < $2.5), gen/4 would make $3
    assert sorted(script.started_keys()) == ["gen/1", "gen/2", "gen/3"]
    assert result.cost_usd == 3.0 <= 2.5 + 1.0 and result.budget == "spent $3.00 of $2.5"
    refused = {p.key: p.error for p in (await _progress(handle)).instances if p.status == "canceled"}
    assert sorted(refused) == ["gen/4", "gen/5", "gen/6"]
    assert refused["gen/4"] == "not started: would pass the run's budget (spent $1.00 of $2.5; $2.00 more expected from 2 running)"
    assert (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "budget"


async def test_the_cancel_policy_starts_them_all_and_stops_them_at_the_budget(client, scripted_queue):
    script = Script(usage={"gen/.*": (100, 10, 1.0)}, delays={"gen/.*": 0.2})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 3}, max_parallel=8,
                                  run={"budget": Budget(max_cost=10, policy="cancel")})
    await final_result(handle)
    assert sorted(script.started_keys()) == ["gen/1", "gen/2", "gen/3"]  # no learning first: cancel stops running ones itself


async def test_best_of_n_under_a_budget_keeps_a_reserve_and_picks_among_its_candidates(client, scripted_queue):
    script = Script(usage={"candidate/.*": (100, 10, 1.0), "score/.*": (10, 10, 0.2)}, answers={"score/2/.*": '{"score": 9, "rationale": "best"}',
                                                                                            "score/[13]/.*": '{"score": 4, "rationale": "fine"}'})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 6}, max_parallel=8, run={"budget": Budget(max_cost=3.0)})
    result = await final_result(handle)
    candidates = sorted(k for k in script.started_keys() if k.startswith("candidate/"))
    # candidate 1 alone, then its scorer ($0.20, learnt): $1.20 + candidate 2's scorer < $3; candidate 3 fits too
    # ($1.20 + $1 running + two scorers kept back = $2.60); candidate 4 would make $3.80
    assert candidates == ["candidate/1", "candidate/2", "candidate/3"]
    assert sorted(k for k in script.started_keys() if k.startswith("score/")) == ["score/1/1", "score/2/1", "score/3/1"]
    winner = result.instances[0]
    assert winner.key == "candidate/2" and winner.winner
    assert result.cost_usd == 3.6 <= 3.0 + 1.0
    assert result.budget == "spent $3.60 of $3; the budget stopped 3 new candidates; selection cost $0.60"
    assert (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "budget"


async def test_selection_runs_even_when_the_candidates_spent_the_budget(client, scripted_queue):
    script = Script(usage={"candidate/.*": (100, 10, 2.0), "score/.*": (10, 10, 0.5)})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 3}, max_parallel=1, run={"budget": Budget(max_cost=1.0)})
    result = await final_result(handle)
    assert script.started_keys() == ["candidate/1", "score/1/1"]  # the first candidate alone passed the budget; it is still scored and wins
    assert result.instances[0].key == "candidate/1" and result.instances[0].winner
    assert result.budget == "spent $2.50 of $1; the budget stopped 2 new candidates; selection cost $0.50"


def test_a_running_instance_is_expected_to_spend_what_the_dearest_of_its_step_did_or_its_live_spend():
    guard = BudgetGuard(Budget(max_cost=4))
    nothing = RunTotals()
    assert guard.admit("gen/1", nothing) == "start"  # nothing known, nothing running: the first learns
    assert guard.admit("gen/2", nothing) == "wait" and guard.learning() == "budget: starting one gen first to learn its cost"
    guard.settled("gen/1", (1.5, 100))
    spent = RunTotals(cost_usd=1.5)
    assert guard.admit("gen/2", spent) == "start"  # $1.5 < $4
    assert guard.admit("gen/3", spent) == "start"  # $1.5 + $1.5 expected < $4
    assert guard.admit("gen/4", spent) == "stop"  # $1.5 + 2 x $1.5 expected
    guard.settled("gen/3", (0.5, 10))
    guard.take(InstanceSpend(key="gen/2", cost_usd=2.4))
    assert guard.admit("gen/5", RunTotals(cost_usd=2.0)) == "stop"  # gen/2's live $2.4 is more than the $1.5 expected of it
    other = BudgetGuard(Budget(max_cost=10))
    assert other.admit("gen/1", nothing) == "start"
    other.settled("gen/1", (1.0, 0))
    assert other.admit("review/1", RunTotals(cost_usd=1.0)) == "start"
    assert other.admit("review/2", RunTotals(cost_usd=1.0)) == "start"  # no review ended yet: one is expected to cost what the dearest instance did
    other.settled("review/1", (4.0, 0))
    assert other.admit("review/3", RunTotals(cost_usd=5.0)) == "start"  # $5 spent + review/2 now expected at $4 < $10
    assert other.admit("review/4", RunTotals(cost_usd=5.0)) == "stop"  # $5 + 2 x $4


def test_the_selection_reserve_counts_the_calls_still_to_come_at_what_one_costs():
    guard = BudgetGuard(Budget(max_cost=10))
    guard.projector.reserve = Reserve(frozenset({"score"}), per_candidate=1)
    assert guard.admit("candidate/1", RunTotals()) == "start"
    guard.settled("candidate/1", (2.0, 0))
    # no scorer ran yet: one is taken as dear as a candidate; candidate 2 leaves room for its and candidate 1's scorer
    assert guard.projector.held_back("candidate/2") == (4.0, 0)
    assert guard.admit("score/1/1", RunTotals(cost_usd=10.0)) == "start"  # selection is never kept from starting
    assert guard.projector.held_back("candidate/2") is None  # a scorer runs: wait to learn what one costs
    guard.settled("score/1/1", (0.5, 0))
    assert guard.projector.held_back("candidate/2") == (0.5, 0) and guard.projector.selection_spent == (0.5, 0)
    assert guard.admit("candidate/2", RunTotals(cost_usd=2.5)) == "start"
    assert guard.admit("candidate/3", RunTotals(cost_usd=2.5)) == "start"  # 2.5 + 2 running + 2 scorers = 5.5
    assert guard.admit("candidate/4", RunTotals(cost_usd=2.5)) == "start"  # 2.5 + 4 + 1.5 = 8
    assert guard.admit("candidate/5", RunTotals(cost_usd=2.5)) == "stop"  # 2.5 + 6 + 2 = 10.5


async def test_best_of_n_says_up_front_what_it_keeps_for_selection(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"candidate/1": hold})
    handle = await start_scripted(client, scripted_queue, "best-of-n", script, params={"n": 1, "compare": "score,tests"},
                                  run={"budget": Budget(max_cost=5.0)})
    await until(lambda: script.calls)
    phase = (await _progress(handle)).phase
    hold.set()
    await final_result(handle)
    assert phase == "budget: keeping a reserve for selection (about 1 agent call per candidate and 1 more)"  # a scorer each, a test writer
