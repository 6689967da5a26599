"""Each of otters' newer sections checked with one line per problem, at its place: [cron.X],
[monitor.X], [action.X], [safety], the events otters' newer runbooks use, custom action names in
on_fail and a task's on_timeout, and the sections of otters' oldest drafts (golden/messages/schedules/)."""

from __future__ import annotations

from client.runbooks.registry import load_runbooks, runbook_files
from tests.conftest import ROOT

SCHEDULES = ROOT / "tests" / "client" / "runbooks" / "golden" / "messages" / "schedules"

EXPECTED = [
    "actions.toml: action.bad: cooldown: 'later' is not a duration: write seconds (90) or 30s, 5m, 2h, 1h30m, 1d",
    'actions.toml: action.bad: max_attempts: input should be greater than or equal to 1, not number 0',
    "actions.toml: action.bad: unknown key 'rules'; accepted: run, cooldown, max_attempts, max, timeout, description, name",
    "actions.toml: action.both: max and max_attempts both bound the action; keep max_attempts (max is otters' older spelling)",
    'actions.toml: action.builtin: missing key \'run\': an action runs a command (run = "..."); otters\' oldest drafts named a built-in '
    'operation (command = ...) instead, which Orchard has not',
    "actions.toml: action.builtin: unknown key 'command'; accepted: run, cooldown, max_attempts, max, timeout, description, name",
    "crons.toml: cron.events: events: unknown event 'on_nudj' (did you mean 'on_nudge'?); a cron's events: on_escalate, on_retry, "
    'on_abandon, on_nudge, on_restart, on_clean, on_skip, on_requeue',
    "crons.toml: cron.fast: interval: 0.5s is too short: at least a second (a Temporal Schedule's finest interval)",
    'crons.toml: cron.idle: runs nothing: give monitors = ["NAME", ...] ([monitor.NAME] sections) or run = "..."',
    'crons.toml: cron.kind: enabled: must be true or false, not string "yes"',
    "crons.toml: cron.kind: interval: 'soon' is not a duration: write seconds (90) or 30s, 5m, 2h, 1h30m, 1d",
    'crons.toml: cron.kind: run: must be a string, not number 3',
    "crons.toml: cron.older: on_error = 'abort': a cron logs a monitor that fails and goes on to the next (log_and_continue), the one behaviour Orchard has",
    'crons.toml: cron.older: runs nothing: give monitors = ["NAME", ...] ([monitor.NAME] sections) or run = "..."',
    "crons.toml: cron.older: scanners = [...]: otters' older spelling; [scanner.NAME] became [monitor.NAME]: write monitors = [...]",
    "crons.toml: cron.older: watchers = [...]: otters' older spelling; [watcher.NAME] became [monitor.NAME]: write monitors = [...]",
    "crons.toml: cron.typo: monitors = 'guard.g' names a guard; monitors takes a monitor",
    'custom_actions.toml: action.recover: run: {session} cannot exist in pipeline build: not an input, a default, config, an output or a runtime value',
    'custom_actions.toml: pipeline.build.phase[0] "execute": on_fail = \'verify_and_retry\' is not a phase, a strategy, escalate, failed '
    "or a retry; phases: execute, merge, done; nor an action: there is no [action.verify_and_retry] (otters' custom on_fail names one)",
    'custom_actions.toml: pipeline.build.phase[2] "done": on_fail: there is no runbook \'common\' (runbooks: actions, crons, '
    'custom_actions, monitors, older, safety)',
    "custom_actions.toml: pipeline.release: publish: 'release/2.0' is protected by [safety] ('release/*' in protected = [main, "
    'release/*]): a pipeline of this runbook never publishes it',
    "custom_actions.toml: task.execution: on_timeout = 'checkpoint_and_escalate': one of fail, escalate, requeue, or an action's name "
    '(there is no [action.checkpoint_and_escalate])',
    'monitors.toml: monitor.both: a monitor handles what matches with run (a command) or response (a ladder of actions): one of them',
    'monitors.toml: monitor.config: run: config.nope is not in [config] of monitors (keys: dir)',
    "monitors.toml: monitor.ladder: response: 'escalate:2': escalate happens once for an item; drop :2",
    "monitors.toml: monitor.ladder: response: 'restart:0': write NAME:N with N at least 1 (restart:2: restart, at most twice for one item)",
    "monitors.toml: monitor.ladder: response: 'restart:x': write NAME:N with N at least 1 (restart:2: restart, at most twice for one item)",
    'monitors.toml: monitor.neither: give run = "..." (a command for each item that matches) or response = ["nudge", "escalate"] (a ladder of actions)',
    "monitors.toml: monitor.shape: format = 'yaml': one of auto, json, lines, csv, kv",
    'monitors.toml: monitor.shape: response: must be a list of steps, e.g. ["nudge", "restart:2", "escalate"]',
    'older.toml: action.nudge: missing key \'run\': an action runs a command (run = "..."); otters\' oldest drafts named a built-in '
    'operation (command = ...) instead, which Orchard has not',
    "older.toml: events: unknown event 'on_issue_requeue' (did you mean 'on_requeue'?); events: on_start, on_phase, on_complete, "
    'on_fail, on_escalate, on_retry, on_abandon, on_nudge, on_restart, on_clean, on_skip, on_requeue, and on_<name>_<event> for a '
    "pipeline, worker, queue, a queue's item or cron",
    "older.toml: events: unknown event 'on_typo_requeue' (did you mean 'on_requeue'?); events: on_start, on_phase, on_complete, "
    'on_fail, on_escalate, on_retry, on_abandon, on_nudge, on_restart, on_clean, on_skip, on_requeue, and on_<name>_<event> for a '
    "pipeline, worker, queue, a queue's item or cron",
    "older.toml: meta: [meta] is otters' oldest draft: a runbook is named after its file (describe it in a comment); drop [meta]",
    "older.toml: scanner: [scanner.NAME] is otters' oldest draft: write [monitor.NAME] (source, condition, run) and list it in a [cron.NAME]'s monitors",
    "older.toml: watcher: [watcher.NAME] is otters' oldest draft: write [monitor.NAME] (source, condition, response = [...]) with an "
    "[action.NAME] for each response, and list it in a [cron.NAME]'s monitors",
    'safety.toml: safety: dry_run_first: must be true or false, not string "yes"',
    'safety.toml: safety: protected: must be a list, not string "main"',
    "safety.toml: safety: unknown key 'never'; accepted: protected, dry_run_first",
]


def test_every_problem_of_the_new_sections_is_one_line_at_its_place() -> None:
    problems = [f"{p.file.rsplit('/', 1)[-1]}: {p.place}: {p.message}" for p in load_runbooks(runbook_files(SCHEDULES)).problems]
    assert problems == EXPECTED
    assert all("\n" not in p for p in problems)
