"""Each table of a runbook is one model: validated with a Reading it reads the TOML as written,
every problem at once; without one it takes its serialized form only (a workflow's input)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workflows.runbooks import model as m


def _reading(place: str, **more: object) -> m.Reading:
    return m.Reading(runbook="ops", file="ops.toml", defined={"strategy": {"merge"}}, place=place, **more)  # type: ignore[arg-type]


def test_a_table_reads_straight_into_its_model() -> None:
    guard = m.GuardDef.model_validate({"condition": "test -f {name}", "timeout": "5m", "on_timeout": "verify", "retry": {"max": 2}, "wake_on": ["phase:*"]},
                                      strict=True, context=_reading("guard.ready", entry="ready"))
    assert (guard.ref, guard.name, guard.timeout, guard.on_timeout, guard.retry) == ("ops.guard.ready", "ready", 300, m.GotoPhase(phase="verify"),
                                                                                     m.Retry(max=2, interval=0))
    assert guard.condition == m.Template(source="test -f {name}", runbook="ops", origin="ops.toml: guard.ready: condition", shell=True)
    phase = m.PhaseDef.model_validate({"name": "fix", "agent": "common.agent.fixer", "pre": ["guard.ready"], "on_fail": "merge"},
                                      strict=True, context=_reading('pipeline.p.phase[0] "fix"', phases={"fix", "verify"}, following="verify"))
    assert phase.action == m.RunTask(task="common.task.fixer") and phase.pre == ["ops.guard.ready"]
    assert phase.next == m.GotoPhase(phase="verify") and phase.on_fail == m.UseChain(strategy="ops.strategy.merge")


def test_every_problem_of_a_table_is_said_at_once() -> None:
    with pytest.raises(ValidationError) as raised:
        m.PhaseDef.model_validate({"name": "a", "run": "echo {name", "timeout": "soon", "lock": "semaphore.s", "nxt": "b", "pre": "g"},
                                  strict=True, context=_reading('pipeline.p.phase[0] "a"'))
    said = {(e["type"], e["ctx"]["message"] if e["type"] == "runbook" else e["loc"]) for e in raised.value.errors()}
    assert said == {
        ("runbook", "run: template syntax: unexpected end of template, expected 'end of print statement'. (line 1)"),
        ("runbook", "timeout: 'soon' is not a duration: write seconds (90) or 30s, 5m, 2h, 1h30m, 1d"),
        ("runbook", "lock = 'semaphore.s' names a semaphore; lock takes a lock"),
        ("extra_forbidden", ("nxt",)),
        ("list_type", ("pre",)),
    }


def test_without_a_reading_a_model_takes_its_serialized_form_only() -> None:
    with pytest.raises(ValidationError):
        m.PhaseDef.model_validate({"name": "a", "run": "make test"})  # otters' spelling: the client's to read
    with pytest.raises(ValidationError):
        m.LockDef.model_validate({"ref": "ops.lock.l", "name": "l", "timeout": "30m"})
    phase = m.PhaseDef.model_validate({"name": "a", "run": "make test", "timeout": 90}, strict=True, context=_reading('pipeline.p.phase[0] "a"'))
    again = m.PhaseDef.model_validate_json(phase.model_dump_json())
    assert again == phase and again.action.command.shell  # type: ignore[union-attr]
