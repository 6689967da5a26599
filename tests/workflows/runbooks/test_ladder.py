"""A monitor's response ladder, decided per item (workflows/runbooks/ladder.py): one step per run of
the cron while the item still matches, `restart:2` counted, cooldowns waited out, a failing step
passed at once, escalate and abandon final while the item matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from client.runbooks.registry import load_runbooks, runbook_files
from workflows.runbooks import model as m
from workflows.runbooks.ladder import Decision, ItemLadder, after, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)

WATCHDOG = """
[cron.watchdog]
interval = "30s"
monitors = ["agent_idle"]

[monitor.agent_idle]
source = "agents --json"
condition = "idle {session}"
response = ["nudge", "restart:2", "escalate"]

[action.nudge]
run = "nudge {session}"
cooldown = "30s"

[action.restart]
run = "restart {session}"
cooldown = "5m"
max_attempts = 5

[action.mark_flaky]
run = "label {name} flaky"
max = 2

[monitor.flaky]
source = "failed --json"
response = ["mark_flaky"]
"""


def _book(tmp_path: Path) -> m.Runbook:
    (tmp_path / "watchdog.toml").write_text(WATCHDOG)
    loaded = load_runbooks(runbook_files(tmp_path))
    assert loaded.problems == []
    return loaded.runbooks["watchdog"]


class Tick:
    """The cron's runs for one item: each `run(at, works)` is one run in which the item matches."""

    def __init__(self, book: m.Runbook, monitor: str):
        self.book, self.ladder, self.record = book, book.monitors[monitor].response, ItemLadder()

    def action(self, reference: m.Ref) -> m.ActionDef:
        return self.book.actions[reference.split(".")[-1]]

    def run(self, seconds: float, works: dict[str, bool] | None = None) -> list[str]:
        """What the ladder did in one run of the cron at T0 + seconds: the steps, each `name` or `name!` (it failed)."""
        now, done = T0 + timedelta(seconds=seconds), []
        for _ in range(len(self.ladder) + 2):
            decision, self.record = decide(self.ladder, self.record, self.action, now)
            if decision.kind == "wait":
                return [*done, f"wait: {decision.note}"]
            ok = (works or {}).get(decision.step, True)
            action = self.action(decision.action).name if decision.action else None
            self.record = after(self.record, decision, ok, now, action)
            done.append(decision.step if ok else f"{decision.step}!")
            if ok or decision.kind != "action":
                return done
        return done


def test_nudge_then_restart_twice_then_escalate_one_step_per_run_while_it_still_matches(tmp_path: Path) -> None:
    tick = Tick(_book(tmp_path), "agent_idle")
    assert tick.run(0) == ["nudge"]
    assert tick.run(30) == ["restart"]  # the nudge was not enough: still idle at the next run
    assert tick.run(60) == ["wait: restart is cooling down (270s left)"]  # restart:2 may run again, but not within its cooldown
    assert tick.run(330) == ["restart"]
    assert tick.run(660) == ["escalate"]  # restart:2 ran twice (its action's max_attempts = 5 does not count here)
    assert tick.run(690) == ["wait: escalated: left alone while it matches"]
    assert tick.record.counts == {"nudge": 1, "restart": 2}


def test_a_step_that_fails_passes_the_item_to_the_next_step_in_the_same_run(tmp_path: Path) -> None:
    tick = Tick(_book(tmp_path), "agent_idle")
    assert tick.run(0, {"nudge": False}) == ["nudge!", "restart"]
    assert tick.run(400, {"restart": False}) == ["restart!", "escalate"]


def test_a_ladder_that_runs_out_abandons_the_item_and_an_action_s_max_counts_its_runs(tmp_path: Path) -> None:
    tick = Tick(_book(tmp_path), "flaky")
    assert [tick.run(s) for s in (0, 60, 120, 180)] == [["mark_flaky"], ["mark_flaky"], ["abandon"], ["wait: abandoned: left alone while it matches"]]


def test_an_item_that_stops_matching_starts_its_ladder_again() -> None:
    """The cron keeps records of matching items only: a fresh record is the ladder from its first step."""
    ladder = [m.LadderStep(kind="escalate", name="escalate")]
    decision, _ = decide(ladder, ItemLadder(), lambda ref: None, T0)  # type: ignore[arg-type,return-value]
    assert decision == Decision("escalate", "escalate", None, 0)
