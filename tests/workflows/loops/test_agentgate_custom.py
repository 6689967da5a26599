"""A custom loop strategy written to AgentGate's interface (ported to Python names) loads and runs
beside Orchard's own: AgentGate's custom-strategy.test.ts cases ported (each test names its case),
then the same strategy through real loop workflows with scripted iterations."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard_common.strategy_loader import import_file
from tests.conftest import run_scripted
from tests.scripted import Script
from tests.workflows.loops.builders import actions, chain, ctx, drive, passing, report, step
from workflows.loops import registry
from workflows.loops.loop import LoopStrategy
from workflows.loops.models import Decision
from workflows.loops.modes.agentgate import AgentGateDecider, orchard_decision
from workflows.loops.modes.custom import CustomDecider
from workflows.sdk.errors import ConfigError, StrategyError

MODULE = "tests.workflows.loops.custom_modes.agentgate_style"
FILE = Path(__file__).resolve().parent / "custom_modes" / "agentgate_style.py"
LEVELS = {"L0": ["ruff check ."], "L1": ["pytest -q"]}


def custom(module: str = MODULE, **settings) -> CustomDecider:
    decider = registry.create_decider({"mode": "custom", "module": module, **settings})
    assert isinstance(decider, CustomDecider)
    return decider


def agentgate(decider: CustomDecider) -> AgentGateDecider:
    assert decider.agentgate is not None
    return decider.agentgate


# -- custom-strategy.test.ts, case by case


def test_properties_and_factory():
    """properties › correct name, mode; createCustomStrategy factory: the registry makes it."""
    decider = custom()
    assert decider.mode == "custom" and decider.delegate.mode == "custom" and decider.delegate.name == "green-or-give-up"


def test_settings_of_the_custom_mode_on_another_mode_are_refused():
    """initialize › should throw if mode is not custom."""
    with pytest.raises(ConfigError, match=r"config, module are not settings of loop mode 'fixed'; it takes: completion, max_iterations"):
        LoopStrategy.normalize_params({"mode": "fixed", "module": MODULE, "config": {}})


def test_a_missing_module_is_one_clear_line():
    """initialize › should throw CustomStrategyLoadError for non-existent module."""
    with pytest.raises(ConfigError, match=r"^custom loop module '/non/existent/path/to/strategy.py' not found \(does the file exist"):
        custom("/non/existent/path/to/strategy.py")


def test_loads_the_strategy_the_module_exports_and_initializes_it_with_the_config():
    """initialize › should load and initialize a valid custom strategy; should pass params to the
    delegate strategy; getDelegateStrategy › should return delegate after initialization. The
    module has several classes with should_continue: `Strategy` names the one (AgentGate's export)."""
    decider = custom(config={"patience": 5})
    assert type(decider.delegate).__name__ == "GreenOrGiveUp" and decider.target == f"{MODULE}:GreenOrGiveUp"
    assert decider.delegate.patience == 5
    assert decider.delegate.config == {"mode": "custom", "strategy_name": MODULE, "params": {"patience": 5}, "max_iterations": 10}
    assert decider.delegate.calls == [["initialize", None]]  # shouldContinue › should throw if not initialized: it always is first


def test_should_continue_is_delegated():
    """shouldContinue › should delegate to loaded strategy."""
    decision = custom().should_continue(ctx(1))
    assert (decision.action, decision.reason) == ("continue", "Still climbing")
    assert decision.metadata == {"level": -1, "stale": 1, "calls": 4, "agentgate_action": "continue"}


def test_stops_when_the_strategy_says_stop():
    """shouldContinue › should stop when delegate strategy says stop."""
    decision = step(custom(config={"patience": 1}), ctx(1, verification=passing(0, of=2)))
    assert not decision.should_continue and decision.reason == "No new level for 1 iterations"
    assert decision.action == "fail"  # verification ran and failed: AgentGate's run failed then


def test_lifecycle_hooks_are_delegated_in_order():
    """lifecycle hooks › should delegate onLoopStart, onIterationStart, onIterationEnd, onLoopEnd."""
    decider = custom(config={"patience": 9})
    decisions = drive(decider, chain(2, max_iterations=2, reports=[passing(0), passing(1)]))
    assert actions(decisions) == ["continue", "timeout"]
    assert decider.delegate.calls == [
        ["initialize", None], ["on_loop_start", 1], ["on_iteration_start", 1], ["should_continue", 1], ["on_iteration_end", 1],
        ["on_iteration_start", 2], ["should_continue", 2], ["on_iteration_end", 2], ["on_loop_end", 2], ["final", "Max iterations reached"],
    ]
    assert decider.delegate.shas == ["commit0001", "commit0002"] and decider.delegate.best == 0


def test_the_start_context_has_no_snapshot_yet_and_the_decision_context_has_the_iteration():
    seen = []
    decider = custom()

    async def record(context):
        seen.append(context)

    decider.delegate.on_iteration_start = record
    decider.should_continue(ctx(2, max_iterations=4, verification=report("pass", "fail"), output="tried again"))
    start = seen[0]
    assert (start.state.iteration, start.state.max_iterations, start.current_snapshot, start.current_verification) == (2, 4, None, None)
    after = decider.agentgate._seen[2]
    assert after.current_snapshot.after_sha == "commit0002" and after.current_snapshot.before_sha == "commit0001"
    assert after.current_verification.l0_result.passed and not after.current_verification.l1_result.passed and after.current_verification.l2_result is None
    assert after.current_verification.diagnostics == [{"level": "L1", "type": "error", "message": "", "file": None}]
    assert after.agent_output == "tried again"


def test_get_progress_detect_loop_and_reset_are_delegated():
    """getProgress › should delegate; detectLoop › should delegate; reset › should reset both."""
    decider = custom()
    progress = agentgate(decider).get_progress(ctx(2, max_iterations=5))
    assert (progress["iteration"], progress["total_iterations"], progress["progress_percent"]) == (2, 5, 40.0)
    assert agentgate(decider).detect_loop(ctx(1)) == {"loop_detected": False, "loop_type": None, "repeat_patterns": []}
    drive(decider, chain(3, commits=["same", "same", "same"], max_iterations=9))
    assert agentgate(decider).detect_loop(ctx(4))["loop_type"] == "exact"
    agentgate(decider).reset()
    assert decider.delegate.calls == [] and decider.delegate.shas == []


@pytest.mark.parametrize("method", ["initialize", "should_continue", "on_iteration_end", "on_loop_end", "on_loop_start"])
def test_an_error_in_the_strategy_names_module_class_and_method(method):
    """error handling › should wrap delegate errors with context."""
    expected = rf"^custom loop strategy {MODULE}:GreenOrGiveUp.{method} raised RuntimeError: {method} failed on purpose$"
    with pytest.raises(StrategyError, match=expected):
        drive(custom(config={"fail_in": method, "patience": 1}), chain(2))


def test_a_strategy_missing_part_of_the_interface_names_what_is_missing():
    """CustomStrategyInvalidError › should include missing methods."""
    with pytest.raises(ConfigError) as e:
        custom(f"{MODULE}:HalfDone")
    assert str(e.value) == (f"custom loop strategy {MODULE}:HalfDone does not implement AgentGate's loop strategy interface; "
                            "missing: on_loop_start, on_iteration_start, on_iteration_end, on_loop_end, get_progress, detect_loop, reset")


def test_a_class_not_found_lists_the_module_classes():
    """CustomStrategyNotFoundError › should include strategy name and available exports."""
    with pytest.raises(ConfigError) as e:
        custom(f"{MODULE}:MyStrategy")
    assert str(e.value) == (f"custom loop module '{MODULE}' has no class 'MyStrategy'; its classes: GreenOrGiveUp, HalfDone, Waits, KeepsASet, "
                            "Escalates, KeepsItsOwnState")


# -- what Orchard adds: async methods, state across continue-as-new, the decision read


def test_an_async_method_that_waits_on_something_is_refused():
    with pytest.raises(StrategyError, match=rf"^custom loop strategy {MODULE}:Waits.should_continue waited on something; it runs inside"):
        custom(f"{MODULE}:Waits").should_continue(ctx(1))


@pytest.mark.parametrize("cls", ["GreenOrGiveUp", "KeepsItsOwnState"])
def test_a_restored_strategy_continues_identically(cls):
    """The loop continues as new with the decider's state: the strategy's JSON-ready attributes, or
    its own get_state/restore_state."""
    config = {"mode": "custom", "module": f"{MODULE}:{cls}", "config": {"patience": 2}}
    contexts = chain(6, max_iterations=6, reports=[passing(0), passing(1), passing(1), passing(1), passing(1)])
    expected = drive(registry.create_decider(config), contexts)
    assert actions(expected) == ["continue"] * 3 + ["fail"]
    for cut in range(1, 4):
        first = registry.create_decider(config)
        head = drive(first, contexts[:cut])
        restored = registry.create_decider(config)
        restored.restore_state(first.get_state())
        assert head + drive(restored, contexts[cut:]) == expected, f"cut at {cut}"
    assert [c[0] for c in restored.delegate.calls].count("on_loop_start") == 1  # a loop starts once, not once per run of its chain


def test_state_that_cannot_be_carried_is_one_clear_line():
    decider = custom(f"{MODULE}:KeepsASet")
    step(decider, ctx(1))
    with pytest.raises(StrategyError, match=r"KeepsASet keeps 'seen', which is not JSON-ready \(Object of type set .*restore_state\(state\)$"):
        decider.get_state()


def test_a_person_stopping_the_loop_reaches_the_strategy_in_its_own_words():
    decider = custom()
    context = ctx(1)
    decider.should_continue(context)
    stop = Decision.stop("stopped", "stopped by a person (ana) after iteration 1", by="ana")
    decider.on_iteration_complete(context, stop)
    decider.on_run_complete(stop)
    assert decider.delegate.calls[-1] == ["final", "stopped by a person (ana) after iteration 1"]
    assert agentgate(decider).last_decision == {"shouldContinue": False, "reason": "stopped by a person (ana) after iteration 1", "action": "stop",
                                                "metadata": {"by": "ana", "action": "stopped"}}


@pytest.mark.parametrize(("result", "context", "action"), [
    ({"shouldContinue": True, "reason": "r", "action": "continue", "metadata": {}}, ctx(1), "continue"),
    ({"shouldContinue": True, "reason": "r", "action": "retry", "metadata": {}}, ctx(1), "continue"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {}}, ctx(1, verification=passing(2, of=2)), "complete"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {}}, ctx(3, max_iterations=3), "timeout"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {}}, ctx(1, verification=passing(0, of=2)), "fail"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {}}, ctx(1), "complete"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {"action": "timeout"}}, ctx(1), "timeout"),
    ({"shouldContinue": False, "reason": "r", "action": "stop", "metadata": {"action": "loop_detected"}}, ctx(1), "fail"),
    ({"shouldContinue": False, "reason": "r", "action": "escalate", "metadata": {}}, ctx(1, verification=passing(2, of=2)), "fail"),
    ({"should_continue": False, "reason": "r", "action": "stop"}, ctx(1), "complete"),
    ({"continue": False, "reason": "r", "action": "complete"}, ctx(1), "complete"),
])
def test_how_an_agentgate_decision_ends_the_loop(result, context, action):
    decision, shown = orchard_decision("m:C", result, context)
    assert decision.action == action and decision.should_continue == (action == "continue")
    assert shown["shouldContinue"] == decision.should_continue


@pytest.mark.parametrize(("result", "problem"), [
    ("yes", "returned str, not a decision"),
    ({"shouldContinue": "no", "reason": 1, "action": "halt", "metadata": []},
     "shouldContinue must be true or false; reason must be text; action must be one of continue, stop, retry, escalate; metadata must be a dict"),
    ({"shouldContinue": True, "reason": "r", "action": "continue", "metadata": {"seen": {1}}}, "metadata is not JSON-ready"),
    ({"continue": True, "reason": "r", "action": "onwards"}, "a dict that is not a Decision (action: Input should be"),
])
def test_a_decision_orchard_cannot_read_is_one_clear_line(result, problem):
    with pytest.raises(StrategyError, match=r"^custom loop strategy m:C.should_continue returned") as e:
        orchard_decision("m:C", result, ctx(1))
    assert problem in str(e.value)


def test_escalate_is_a_failure_a_person_may_answer():
    decisions = drive(custom(f"{MODULE}:Escalates"), chain(3))
    assert actions(decisions) == ["continue", "fail"] and decisions[-1].metadata["agentgate_action"] == "escalate"


def test_orchard_interface_classes_still_load_as_before():
    decider = custom("tests.workflows.loops.custom_modes.counting", config={"stop_after": 2})
    assert decider.agentgate is None and actions(drive(decider, chain(3))) == ["continue", "complete"]


# -- through the loop workflow


def trail(result) -> list[tuple[int, str, str]]:
    return [(row.iteration, row.action, row.reason) for row in result.instances[0].loop.trail]


async def test_an_agentgate_strategy_decides_a_loop_that_continues_as_new(client, scripted_queue):
    """Four iterations, continued as new after two: the strategy's state goes along (it gives up
    after two iterations without a new level, counting across the runs of the loop's chain)."""
    script = Script(steps=[{}, {"passed": ["L0"]}, {"passed": ["L0"]}, {"passed": ["L0"]}])
    result = await run_scripted(client, scripted_queue, "loop", script, params={
        "mode": "custom", "module": MODULE, "config": {"patience": 2}, "verify": LEVELS, "iterations_per_run": 2, "max_iterations": 8})
    assert trail(result) == [(1, "continue", "Still climbing"), (2, "continue", "Still climbing"), (3, "continue", "Still climbing"),
                             (4, "fail", "No new level for 2 iterations")]
    loop = result.instances[0].loop
    assert result.runs == 2 and loop.mode == "custom" and loop.action == "fail"
    assert loop.decision["metadata"] == {"stale": 2, "calls": 13, "agentgate_action": "stop"}  # initialize, on_loop_start, then 3 calls an iteration


@pytest.mark.parametrize("module", [str(FILE), "tests.workflows.loops.custom_modes.counting"], ids=["agentgate-file", "orchard-module"])
async def test_both_interfaces_run_a_loop_side_by_side(client, scripted_queue, module):
    """A strategy file in AgentGate's idiom, loaded by path as the client loads it, and one of
    Orchard's, each deciding a real loop."""
    if module.endswith(".py"):
        import_file(Path(module), "custom loop module")
        params = {"mode": "custom", "module": f"{module}:GreenOrGiveUp", "verify": LEVELS}
        steps = [{"passed": ["L0"]}, {"passed": ["L0", "L1"]}]
        expected = [(1, "continue", "Still climbing"), (2, "complete", "Verification passed")]
    else:
        params = {"mode": "custom", "module": f"{module}:CountingLoop", "config": {"stop_after": 2}}
        steps = [{}, {}]
        expected = [(1, "continue", "iteration 1 of 2"), (2, "complete", "counted to 2")]
    result = await run_scripted(client, scripted_queue, "loop", Script(steps=steps), params=params)
    assert result.status == "success" and trail(result) == expected


async def test_a_decider_that_always_goes_on_ends_at_its_most_iterations(client, scripted_queue):
    """The loop holds the bound a decider declares (CountingLoop: 7) even when the decider itself would go on (to 10)."""
    params = {"mode": "custom", "module": "tests.workflows.loops.custom_modes.counting:CountingLoop", "config": {"stop_after": 10}}
    result = await run_scripted(client, scripted_queue, "loop", Script(steps=[{}] * 10), params=params)
    rows = trail(result)
    assert [n for n, _, _ in rows] == list(range(1, 8)) and rows[-1][1] == "timeout", rows
    assert rows[-1][2] == "reached its most iterations (7); its decider would go on: iteration 7 of 10"
