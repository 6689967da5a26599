"""A strategy's name however its class gives it (Orchard's NAME, Pitaya's `name` property, a plain
class attribute, a method), read as `cls.name()` and as `self.name`; what ctx says of Pitaya's
attributes it lacks; Pitaya's exception names."""

from __future__ import annotations

import pytest

from workflows import Strategy, StrategyError


async def _none(self, prompt, base_branch, ctx):
    return []


def strategy(class_name: str, bases: tuple[type, ...] = (Strategy,), **body) -> type[Strategy]:
    return type(class_name, bases, {"execute": _none, **body})


@pytest.mark.parametrize("given", [
    property(lambda self: "given-name"),
    "given-name",
    lambda self: "given-name",
    classmethod(lambda cls: "given-name"),
    staticmethod(lambda: "given-name"),
])
def test_a_name_given_as_property_attribute_or_method_is_the_name_read_both_ways(given):
    cls = strategy("Given", name=given)
    assert cls.name() == "given-name" and type(cls.name()) is str
    assert cls().name == "given-name" and f"{cls().name}" == "given-name" and cls().name() == "given-name"
    assert cls.workflow_class().__temporal_workflow_definition.name == "given-name"


def test_name_and_derived_names_read_both_ways_too():
    assert strategy("Named", NAME="named-here").name() == "named-here"
    assert strategy("HTTPFixStrategy")().name == "http-fix"


def test_a_property_reads_the_class_and_the_base_settings_not_a_run():
    cls = strategy("Labelled", LABEL="Shouty", name=property(lambda self: f"{self.LABEL.lower()}-{len(self.params)}"))
    assert cls.name() == "shouty-0"


def test_a_base_that_runs_nothing_lends_its_name_property_a_strategy_that_runs_does_not():
    base = type("Base", (Strategy,), {"name": property(lambda self: "from-base")})
    child = strategy("Child", (base,))
    assert child.name() == "from-base"
    grandchild = strategy("Grandchild", (child,))
    assert grandchild.name() == "grandchild"  # child is a workflow type of its own


@pytest.mark.parametrize(("given", "says"), [
    (property(lambda self: None), "Odd.name must give the strategy's name as text, not None"),
    (42, "Odd.name must be text, a property or a method giving text, not int"),
    ("has space", "strategy name 'has space' cannot name a branch"),
])
def test_a_name_that_is_not_a_name_is_refused_when_the_class_is_defined(given, says):
    with pytest.raises(StrategyError, match=says):
        strategy("Odd", name=given)


def _bare_ctx():
    from workflows.sdk.context import Context

    return object.__new__(Context)  # what ctx lacks is the same for any ctx


def test_ctx_says_what_to_use_instead_of_pitayas_orchestrator():
    from workflows.sdk.errors import ContextAttributeError

    ctx = _bare_ctx()
    with pytest.raises(ContextAttributeError) as said:
        ctx._orchestrator  # noqa: B018
    line = str(said.value)
    assert "\n" not in line and line.startswith("ctx._orchestrator is Pitaya's private orchestrator; Orchard has none in a strategy")
    assert all(use in line for use in ("ctx.run_id", "ctx.base_commit", "self.defaults.model", "await ctx.verify(result"))


@pytest.mark.parametrize(("name", "says"), [
    ("_strategy_name", "ctx._strategy_name is Pitaya's private copy of the strategy's name: use self.name"),
    ("_rand", "ctx._rand is Pitaya's private random source: use ctx.rand()"),
    ("_instance_counter", "use len(ctx.progress)"),
    ("_whatever", "ctx._whatever is private and Orchard's ctx has no such attribute: use ctx's public API"),
    ("spawn_instance", "use handle = await ctx.run(task, key=ctx.key(...))"),
    ("parallel", "use await ctx.wait_all(handles)"),
    ("emit_event", "ctx.emit_event is Pitaya's event bus, which Orchard does not have"),
])
def test_ctx_says_a_clear_line_for_every_private_name_and_pitayas_public_ones(name, says):
    with pytest.raises(AttributeError, match=says.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        getattr(_bare_ctx(), name)


def test_a_missing_ctx_attribute_still_answers_getattr_and_hasattr_as_python_does():
    ctx = _bare_ctx()
    assert getattr(ctx, "_orchestrator", None) is None and not hasattr(ctx, "_strategy_name")
    with pytest.raises(AttributeError, match="'Context' object has no attribute 'wiat'$"):
        ctx.wiat  # noqa: B018
    assert not hasattr(ctx, "__deepcopy__")


def test_pitayas_exception_names_catch_what_ctx_raises():
    from workflows import AggregateTaskFailed, InstanceFailed, NoViableCandidates, OrchestratorError, TaskFailed
    from workflows.sdk.models import InstanceResult

    bad = InstanceResult(success=False, status="failed", key="gen/2", error="gave up", error_type="agent")
    one, some = TaskFailed(bad), AggregateTaskFailed(bad, [InstanceResult(success=True, key="gen/1"), bad])
    assert isinstance(one, InstanceFailed) and isinstance(some, InstanceFailed) and not isinstance(some, TaskFailed)
    assert (one.failure.key, one.failure.error_type, one.failure.message, one.failure.result) == ("gen/2", "agent", "gave up", bad)
    assert some.keys == ["gen/2"] and str(NoViableCandidates()) == "no viable candidates"
    assert OrchestratorError is StrategyError and isinstance(one, OrchestratorError)


def test_every_name_pitayas_strategies_import_is_in_workflows():
    import workflows
    from workflows.strategies import BestOfNStrategy, BugFindingStrategy, DocReviewStrategy, IterativeStrategy, SimpleStrategy

    assert {"Strategy", "StrategyConfig", "StrategyContext", "InstanceResult", "StrategyError", "TaskFailed", "AggregateTaskFailed",
            "NoViableCandidates", "OrchestratorError", "Handle"} <= set(workflows.__all__)
    assert workflows.StrategyContext is workflows.Context
    assert [c.name() for c in (SimpleStrategy, BestOfNStrategy, IterativeStrategy, BugFindingStrategy, DocReviewStrategy)] == [
        "simple", "best-of-n", "iterative", "bug-finding", "doc-review"]
