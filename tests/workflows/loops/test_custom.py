"""The custom loop mode: loading a class by path or by module name, delegating to it, and
clear errors for every way a custom decider can go wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard_common.strategy_loader import import_file
from tests.workflows.loops.builders import actions, chain, ctx, drive, passing, step
from workflows.loops import registry
from workflows.loops.models import Decision
from workflows.loops.modes.custom import CustomDecider, CustomLoopStrategy
from workflows.sdk.errors import ConfigError, StrategyError

MODULES = Path(__file__).resolve().parent / "custom_modes"
PACKAGE = "tests.workflows.loops.custom_modes"


def loaded(name: str) -> str:
    """The absolute path of fixture module `name`, registered with the import hook as the client does."""
    path = MODULES / f"{name}.py"
    import_file(path, "custom loop module")
    return str(path)


def custom(module: str, **settings) -> CustomDecider:
    decider = registry.create_decider({"mode": "custom", "module": module, **settings})
    assert isinstance(decider, CustomDecider)
    return decider


def test_loads_the_only_class_of_a_file():
    decider = custom(loaded("counting"), config={"stop_after": 3})
    assert type(decider.delegate).__name__ == "CountingLoop"
    assert decider.target == f"{MODULES / 'counting.py'}:CountingLoop"
    assert actions(drive(decider, chain(5))) == ["continue", "continue", "complete"]


def test_a_file_written_against_the_old_names_loads_as_it_did():
    from workflows.loops.modes import base, fixed, hybrid, ralph

    old = (base.BaseLoopStrategy, base.LoopStrategy, fixed.FixedLoopStrategy, hybrid.HybridLoopStrategy, ralph.RalphLoopStrategy,
           CustomLoopStrategy, registry.register_loop_strategy)
    assert old == (base.BaseLoopDecider, base.LoopDecider, fixed.FixedDecider, hybrid.HybridDecider, ralph.RalphDecider, CustomDecider,
                   registry.register_decider)
    decider = custom(loaded("old_names"))
    assert type(decider.delegate).__name__ == "StopAtTwo" and isinstance(decider.delegate, base.LoopDecider)
    assert actions(drive(decider, chain(3))) == ["continue", "complete"]


def test_loads_a_named_class_of_a_file():
    assert type(custom(f"{loaded('faulty')}:ReturnsDict").delegate).__name__ == "ReturnsDict"


def test_loads_by_module_name():
    assert type(custom(f"{PACKAGE}.counting:CountingLoop").delegate).__name__ == "CountingLoop"
    assert type(custom(f"{PACKAGE}.counting").delegate).__name__ == "CountingLoop"


def test_loop_strategy_attribute_picks_the_class():
    decider = custom(f"{PACKAGE}.reach_level", config={"target": "L2"})
    assert type(decider.delegate).__name__ == "ReachLevel"
    decisions = drive(decider, chain(4, max_iterations=4, reports=[passing(1), passing(3), passing(0)]))
    assert actions(decisions) == ["continue", "complete"] and decisions[-1].reason == "reached L2 by iteration 2"


def test_the_config_is_handed_to_the_class():
    decider = custom(f"{PACKAGE}.counting", config={"stop_after": 1, "note": "hi"})
    assert decider.delegate.config == {"stop_after": 1, "note": "hi"}
    assert custom(f"{PACKAGE}.reach_level", config={"target": "L3"}).delegate.settings.target == "L3"


def test_config_for_a_class_that_takes_none_is_refused():
    with pytest.raises(ConfigError, match=r"custom loop strategy .*faulty:NoConfig takes no config .*yet config has stop_after"):
        custom(f"{PACKAGE}.faulty:NoConfig", config={"stop_after": 1})


def test_max_iterations_and_runs_verification_from_the_class_else_the_settings():
    counting = custom(f"{PACKAGE}.counting", max_iterations=3)
    assert counting.max_iterations == 7 and counting.runs_verification is False
    plain = custom(f"{PACKAGE}.faulty:NoConfig", max_iterations=3)
    assert plain.max_iterations == 3 and plain.runs_verification is True
    assert custom(f"{PACKAGE}.reach_level").max_iterations == 4


def test_a_base_subclass_without_settings_keeps_its_config():
    decider = custom(f"{PACKAGE}.faulty:ReturnsDict", config={"max_iterations": 6, "note": "x"})
    assert decider.max_iterations == 6 and decider.delegate.settings.model_extra == {"note": "x"}


def test_every_method_is_delegated():
    decider = custom(f"{PACKAGE}.counting", config={"stop_after": 1})
    decision = step(decider, ctx(1))
    decider.on_run_complete(decision)
    assert decider.get_state() == {"seen": 1}
    decider.restore_state({"seen": 5})
    assert decider.workspace_files(6) == {"notes/seen.txt": "5 before 6\n"}
    assert decider.delegate.calls == [
        ("on_iteration_start", 1),
        ("should_continue", 1),
        ("on_iteration_complete", "complete"),
        ("on_run_complete", "complete"),
        ("get_state",),
        ("restore_state", {"seen": 5}),
    ]
    assert decision == Decision.stop("complete", "counted to 1", counted=1)


def test_a_restored_custom_decider_continues_identically():
    config = {"mode": "custom", "module": f"{PACKAGE}.reach_level", "config": {"target": "L2", "max_iterations": 5}}
    contexts = chain(5, max_iterations=5, reports=[passing(0), passing(1), passing(1), passing(3)])
    expected = drive(registry.create_decider(config), contexts)
    first = registry.create_decider(config)
    head = drive(first, contexts[:2])
    restored = registry.create_decider(config)
    restored.restore_state(first.get_state())
    assert head + drive(restored, contexts[2:]) == expected


def test_a_class_without_workspace_files_writes_none():
    assert custom(f"{PACKAGE}.faulty:NoConfig").workspace_files(1) == {}


def test_a_relative_file_path_is_refused():
    with pytest.raises(ConfigError, match=r"^custom loop module 'loops/mine.py' is a relative path"):
        custom("loops/mine.py")


def test_module_not_found():
    with pytest.raises(ConfigError, match=r"^custom loop module '/nowhere/mine.py' not found \(does the file exist"):
        custom("/nowhere/mine.py:Mine")
    with pytest.raises(ConfigError, match=rf"^custom loop module '{PACKAGE}.nope' not found \(is it on PYTHONPATH\?\)"):
        custom(f"{PACKAGE}.nope")
    with pytest.raises(ConfigError, match="neither a file"):
        custom("not a module!")


def test_a_module_failing_to_import():
    with pytest.raises(ConfigError, match=r"custom loop module '.*broken_import' failed to import: RuntimeError: broken on purpose"):
        custom(f"{PACKAGE}.broken_import")


def test_class_not_found_lists_the_classes():
    with pytest.raises(ConfigError) as e:
        custom(f"{PACKAGE}.counting:Counter")
    assert str(e.value) == f"custom loop module '{PACKAGE}.counting' has no class 'Counter'; its classes: CountingLoop"


def test_several_classes_without_a_name():
    with pytest.raises(ConfigError, match=r"must define exactly one class with should_continue \(found: Incomplete, Raising, .*\); set LOOP_STRATEGY"):
        custom(loaded("faulty"))


def test_interface_not_implemented_names_the_missing_methods():
    with pytest.raises(ConfigError) as e:
        custom(f"{PACKAGE}.faulty:Incomplete")
    assert str(e.value) == (
        f"custom loop strategy {PACKAGE}.faulty:Incomplete does not implement the loop strategy interface; "
        "missing: on_iteration_start, on_iteration_complete, on_run_complete, restore_state"
    )


def test_an_exception_in_a_method_names_module_class_and_method():
    path = loaded("faulty")
    with pytest.raises(StrategyError) as e:
        custom(f"{path}:Raising").should_continue(ctx(1))
    assert str(e.value) == f"custom loop strategy {path}:Raising.should_continue raised ValueError: no verdict"
    decider = custom(f"{path}:RaisingOnComplete")
    with pytest.raises(StrategyError, match=r"faulty.py:RaisingOnComplete.on_iteration_complete raised KeyError: 'seen'$"):
        step(decider, ctx(1))
    with pytest.raises(StrategyError, match=r"faulty:BadInit.__init__ raised RuntimeError: cannot use \['x'\]"):
        custom(f"{PACKAGE}.faulty:BadInit", config={"x": 1})


def test_a_bad_setting_of_a_base_subclass_stays_a_config_error():
    with pytest.raises(ConfigError, match=r"ReachLevel.__init__ raised ConfigError: loop mode 'custom': unknown setting 'targt' \(did you mean 'target'\?\)"):
        custom(f"{PACKAGE}.reach_level", config={"targt": "L1"})


def test_a_dict_decision_is_accepted():
    decision = custom(f"{PACKAGE}.faulty:ReturnsDict").should_continue(ctx(1))
    assert decision == Decision.stop("complete", "a dict says stop", via="dict")


def test_anything_else_is_refused():
    with pytest.raises(StrategyError, match=r"faulty:ReturnsJunk.should_continue returned str, not a Decision$"):
        custom(f"{PACKAGE}.faulty:ReturnsJunk").should_continue(ctx(1))
    with pytest.raises(StrategyError, match=r"faulty:ReturnsBadDict.should_continue returned a dict that is not a Decision \(reason: Field required; action:"):
        custom(f"{PACKAGE}.faulty:ReturnsBadDict").should_continue(ctx(1))
    with pytest.raises(StrategyError, match=r"UnreadyMetadata.should_continue returned a decision whose metadata is not JSON-ready"):
        custom(f"{PACKAGE}.faulty:UnreadyMetadata").should_continue(ctx(1))


def test_state_must_be_json_ready():
    with pytest.raises(StrategyError, match=r"faulty:BadState.get_state returned a state that is not JSON-ready: Object of type set"):
        custom(f"{PACKAGE}.faulty:BadState").get_state()
