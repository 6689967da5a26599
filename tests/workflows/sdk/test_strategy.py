"""The strategy SDK without a server: names, workflow types, branch names."""

from __future__ import annotations

import asyncio

import pytest

from workflows.sdk.models import instance_branch, is_protected_ref
from workflows.sdk.strategy import strategy_name_from_class
from workflows.strategies import BUILTIN_STRATEGIES


@pytest.mark.parametrize(
    "cls, name",
    [("BestOfNStrategy", "best-of-n"), ("FanOutStrategy", "fan-out"), ("SimpleStrategy", "simple"), ("HTTPFixStrategy", "http-fix")],
)
def test_names_derive_from_class(cls, name):
    assert strategy_name_from_class(cls) == name


def test_builtins_are_workflow_types_named_after_the_strategy():
    assert set(BUILTIN_STRATEGIES) == {
        "simple", "best-of-n", "iterative", "bug-finding", "doc-review", "multi-branch", "shadow", "round-robin", "loop", "runbook", "runbook-worker",
        "runbook-cron"}
    for name, cls in BUILTIN_STRATEGIES.items():
        assert cls.workflow_class().__temporal_workflow_definition.name == name


def test_branch_names_and_protected_refs():
    assert instance_branch("best-of-n", "run_1", "candidate/1").startswith("orchard/best-of-n/run_1/k")
    assert len(instance_branch("s", "r", "k").rsplit("/k", 1)[1]) == 8
    for ref in ("main", "master", "develop", "release/1.2", "refs/heads/main"):
        assert is_protected_ref(ref)
    assert not is_protected_ref("orchard/simple/run_1/kabcdef12")




async def test_a_strategy_file_still_runs_in_the_sandbox_which_stops_a_clock_read(client, scripted_queue):
    from client.snapshots import workflow_task_state
    from tests.conftest import start_scripted
    from tests.scripted import Script

    script = Script()
    handle = await start_scripted(client, scripted_queue, "clock", script)
    try:
        for _ in range(100):
            _, failure = await workflow_task_state(handle)
            if failure:
                break
            await asyncio.sleep(0.1)
        assert failure and "Cannot access time.time" in failure
        assert script.calls == []  # the run waits for a fix; nothing ran
    finally:
        await handle.terminate("test over")


@pytest.mark.parametrize("name", ["../../heads/master", "has space", "a..b", "x.lock", "-dash", "end.", "tab\there"])
def test_a_name_that_cannot_form_a_branch_is_refused_when_the_class_is_defined(name):
    from workflows import Strategy, StrategyError

    with pytest.raises(StrategyError, match="cannot name a branch"):
        type("Bad", (Strategy,), {"NAME": name, "execute": lambda self, prompt, base_branch, ctx: []})


def test_only_a_strategy_that_implements_steering_is_steered():
    from workflows.sdk.errors import SteerRefused
    from workflows.sdk.models import SteerRequest
    from workflows.sdk.steering import Steerable, check_steer, steer
    from workflows.sdk.strategy import Strategy

    class Mine(Strategy):
        NAME = "steered-by-hand"

        def check_steer(self, request: SteerRequest) -> None:
            if request.action != "pause":
                raise SteerRefused("only pause")

        def steer(self, request: SteerRequest) -> str:
            return "paused"

        async def execute(self, prompt, base_branch, ctx):
            return []

    steerable = {name for name, cls in BUILTIN_STRATEGIES.items() if isinstance(cls(), Steerable)}
    assert steerable == {"loop", "runbook-worker"} and isinstance(Mine(), Steerable)
    check_steer(Mine(), "steered-by-hand", SteerRequest(action="pause"))
    assert steer(Mine(), "steered-by-hand", SteerRequest(action="pause")) == "paused"
    with pytest.raises(SteerRefused, match=r"^a best-of-n run cannot be steered \(`stop` is for loop runs\)$"):
        check_steer(BUILTIN_STRATEGIES["best-of-n"](), "best-of-n", SteerRequest(action="stop"))
    with pytest.raises(SteerRefused, match=r"^a simple run cannot be steered$"):
        steer(BUILTIN_STRATEGIES["simple"](), "simple", SteerRequest(action="stop"))
