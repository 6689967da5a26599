"""How a run looks: live (tui, streaming, json lines, quiet) and its final results."""

from __future__ import annotations

import errno
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from client.selections import comparison_line, comparisons_table, matrix_table, picks_table, test_line
from client.snapshots import Outcome, Snapshot
from client.tables import Column, FittedTable, short_count
from workflows.sdk.models import Answer, ChildRun, InstanceProgress, InstanceResult, Question, RunProgress, RunResult, Selection
from workflows.sdk.trail import ComparisonRecord, ItemRecord, IterationRecord, PhaseRecord, StepRecord, TestRecord

Row = IterationRecord | PhaseRecord | ItemRecord | TestRecord | ComparisonRecord | StepRecord
"""A row of a trail (workflows/sdk/trail.py's TrailRow): each kind has its table and its line."""

ACTION_STYLE = {"continue": "cyan", "complete": "green", "timeout": "red", "fail": "red", "budget": "yellow", "stopped": "yellow"}
TRAIL_SHOWN = 20
"""A loop's latest iterations `orchard run` and `watch` print at the end (`orchard show` prints all)."""
TUI_TRAIL_ROWS = 10
VERIFY_LINES_SHOWN = 10
"""The last lines of a failed verification's output printed under the results (its log has them all)."""
STATUS_STYLE = {"success": "green", "running": "cyan", "queued": "dim", "failed": "red", "timeout": "red", "canceled": "yellow", "stopped": "yellow"}


def _cost(value: float, estimated: bool = False) -> str:
    return f"${value:.4f}" + (" (estimated)" if estimated else "") if value else "-"


def _cost_cell(value: float, estimated: bool = False, short: bool = False) -> str:
    """A cost in a table: `~` marks an estimate (ESTIMATED_NOTE says so under the table); `short`:
    cents from a dollar up, for a narrow terminal."""
    return ("~" if estimated else "") + (f"${value:.2f}" if short and value >= 1 else f"${value:.4f}") if value else "-"


def _seconds(value: float | None, short: bool = False) -> str:
    return "-" if value is None else f"{value:.0f}s" if short else f"{value:.1f}s"


ESTIMATED_NOTE = "~ cost estimated from tokens by Orchard's price table (until the agent reports its own)"


def counted(n: int, word: str) -> str:
    """`1 instance`, `3 instances`."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _tokens(n: int) -> str:
    return f"{n:,}" if n else "-"


def task_failure_line(snap: Snapshot) -> str:
    return (
        f"the strategy's code fails: {snap.task_failure}\n  fix it and restart its worker (embedded: "
        f"`orchard server stop`, then `orchard watch {snap.run_id}`): the run resumes where it was; or end it: `orchard cancel {snap.run_id}`"
    )


def question_line(run_id: str, q: Question, several: bool = False) -> str:
    """How a run that waits for a person says so (stderr of `orchard run` and `orchard watch`)."""
    offered = f" [{' / '.join(q.choices)}]" if q.choices else ""
    default = f"; default {q.default}" if q.default is not None else ""
    deadline = f", taken at {q.deadline:%Y-%m-%d %H:%M:%S} UTC" if q.deadline else ""
    which = f" --question {q.key}" if several else ""
    return f"orchard: run {run_id} waits for a person: {q.text}{offered}{default}{deadline}; answer: orchard answer {run_id} CHOICE{which}"


def answer_line(a: Answer) -> str:
    how = f"no answer in time, took the default {a.choice!r}" if a.timed_out else f"{a.choice!r} by {a.by or '?'}" + (f" ({a.note})" if a.note else "")
    return f"asked {a.key}: {a.question[:100]} -> {how} at {a.at:%Y-%m-%d %H:%M:%S} UTC"


def child_line(c: ChildRun) -> str:
    spent = f", {counted(c.totals.instances_run, 'instance')}, cost {_cost(c.totals.cost_usd, c.totals.cost_estimated)}" if c.status != "running" else ""
    error = f": {c.error}" if c.error else ""
    return f"child {c.key} {c.strategy} {c.status}{spent} (run {c.run_id}){error}"


def chain_line(progress: RunProgress) -> str | None:
    """What the earlier runs of a chain did (a run continued as new), or None for a single run."""
    if progress.runs <= 1:
        return None
    counts = ", ".join(f"{n} {status}" for status, n in sorted(progress.earlier.items()))
    return f"run {progress.runs} of its chain (continued as new); earlier instances: {counts or 'none'}"


TRAIL_TITLES: dict[type, str] = {IterationRecord: "iterations", PhaseRecord: "phases", ItemRecord: "items", StepRecord: "steps",
                                 TestRecord: "generated tests", ComparisonRecord: "comparisons"}


def trail_key(row: Row, n: int = 0) -> str:
    """What a row is known by while it changes (`n`: its place in the whole trail, for a strategy's own steps)."""
    match row:
        case ItemRecord():
            return f"item {row.id}"
        case PhaseRecord():
            return f"phase {row.step}"
        case IterationRecord():
            return f"iteration {row.iteration}"
        case TestRecord():
            return f"test {row.test}"
        case ComparisonRecord():
            return f"comparison {row.a}-{row.b}"
    return f"step {n + 1}"


def _fields(row: StepRecord) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.fields.items())


def trail_line(row: Row, n: int = 0) -> str:
    match row:
        case TestRecord():
            return test_line(row)
        case ComparisonRecord():
            return comparison_line(row)
        case ItemRecord():
            error = f": {row.error}" if row.error else ""
            return f"item {row.id}: {row.status} (attempt {row.attempts}){error}"
        case PhaseRecord():
            visit = f" (visit {row.visit})" if row.visit > 1 else ""
            note = f": {row.note}" if row.note else ""
            tried = "".join(f"\n  attempt {attempt}" for attempt in row.attempts)  # each failed attempt of a chain, and why
            return f"phase {row.phase}{visit}: {'done' if row.ok else 'failed'}{note} (commit {row.commit[:12]}){tried}"
        case IterationRecord():
            levels = ",".join(row.levels_passed) or "none"
            return f"iteration {row.iteration}: {row.action}: {row.reason} (levels passed: {levels}, commit {row.commit[:12]})"
    return f"step {n + 1}: {_fields(row)}"


def _now(outcome: Outcome) -> list[str]:
    """Where a running run is (`phase merge: waiting for ops.lock.main_branch`), and its graph."""
    progress = outcome.progress if outcome.status == "running" else None
    if progress is None:
        return []
    return ([f"now: {progress.phase}"] if progress.phase else []) + [f"  {line}" for line in progress.graph]


def progress_lines(progress: RunProgress | None) -> list[str]:
    """Children, the chain and open questions of a running run, one line each."""
    if progress is None:
        return []
    lines = [quota_line(progress.quota_until)] if progress.quota_until else []
    if progress.budget_wait and progress.budget_until:
        lines.append(quota_line(progress.budget_until).replace("quota", f"budget {progress.budget_wait}"))
    lines += [child_line(c) for c in progress.children]
    chain = chain_line(progress)
    if chain:
        lines.append(chain)
    several = len(progress.questions) > 1
    lines += [question_line(progress.run_id, q, several).removeprefix("orchard: ") for q in progress.questions]
    return lines


def quota_line(until: datetime) -> str:
    """`waiting for quota until 14:05`, in this host's time (with the date when it is not today)."""
    local = until.astimezone()
    day = "" if local.date() == datetime.now().astimezone().date() else f" on {local:%Y-%m-%d}"
    return f"waiting for quota until {local:%H:%M}{day}"


def instance_line(p: InstanceProgress, beat: dict[str, Any] | None) -> str:
    where = p.branch or ""
    event = quota_line(p.quota_until) if p.quota_until else (beat or {}).get("last_event") or (beat or {}).get("phase") or p.error or ""
    attempt = f" (attempt {beat['attempt']})" if beat and beat.get("attempt", 1) > 1 else ""
    return f"{p.key:<18} {p.status:<8}{attempt} {where} {event}".rstrip()


def results_table(results: list[InstanceResult]) -> FittedTable:
    notes = []
    for r in results:
        selection = r.selection or Selection()
        note = r.error or selection.reason or selection.ineligible or ""
        if r.metrics.get("verify_passed") is False:
            note = note or "verification failed"
        notes.append(note[:80])
    scores = [r.metrics.get("score") for r in results]
    agents = [Column("agent", [r.variant.id if r.variant else "-" for r in results])] if any(r.variant for r in results) else []
    tests = [Column("tests", [f"{r.metrics['tests_passed']}/{r.metrics['tests_counted']}" if "tests_passed" in r.metrics else "-" for r in results])
             ] if any("tests_passed" in r.metrics for r in results) else []
    columns = [
        Column("", ["★" if r.winner else "" for r in results]),
        Column("instance", [r.key for r in results]),
        *agents,
        Column("status", [Text(r.status, style=STATUS_STYLE.get(r.status, "")) for r in results]),
        Column("branch", [r.branch_name or "-" for r in results], kind="branch"),
        Column("score", [f"{score:g}" if isinstance(score, (int, float)) else "-" for score in scores]),
        *tests,
        Column("+/-", [f"+{r.insertions}/-{r.deletions}" if r.has_changes else "-" for r in results]),
        Column("time", [_seconds(r.duration_seconds) for r in results], short=[_seconds(r.duration_seconds, short=True) for r in results]),
        Column("tokens", [_tokens(r.tokens) for r in results], short=[short_count(r.tokens) for r in results]),
        Column("cost", [_cost_cell(r.cost_usd, r.cost_estimated) for r in results],
               short=[_cost_cell(r.cost_usd, r.cost_estimated, short=True) for r in results]),
        Column("note", list(notes), kind="text"),
    ]
    return FittedTable(columns, key=1, notes=_estimated_note(r.cost_usd and r.cost_estimated for r in results))


def _estimated_note(estimated: Iterable[Any]) -> list[str]:
    return [ESTIMATED_NOTE] if any(estimated) else []


def comparison_table(results: list[InstanceResult]) -> FittedTable | None:
    """Variants side by side: the results variant strategies ran (`variant`)."""
    pairs = [(r, r.variant) for r in results if r.variant is not None]
    if not pairs:
        return None
    shown, variants = [r for r, _ in pairs], [v for _, v in pairs]
    verified = [v.verified for v in variants]
    columns = [
        Column("variant", [Text(v.id) for v in variants]),
        Column("role", [v.role for v in variants]),
        Column("status", [Text(r.status, style=STATUS_STYLE.get(r.status, "")) for r in shown]),
        Column("branch", [r.branch_name or "-" for r in shown], kind="branch"),
        Column("files", [str(r.files_changed) for r in shown]),
        Column("time", [_seconds(r.duration_seconds) for r in shown], short=[_seconds(r.duration_seconds, short=True) for r in shown]),
        Column("tokens", [_tokens(r.tokens) for r in shown], short=[short_count(r.tokens) for r in shown]),
        Column("cost", [_cost_cell(r.cost_usd, r.cost_estimated) for r in shown], short=[_cost_cell(r.cost_usd, r.cost_estimated, short=True) for r in shown]),
        Column("verify", ["-" if v is None else ("passed" if v else "failed") for v in verified]),
        Column("note", [(r.error or "")[:80] for r in shown], kind="text"),
    ]
    return FittedTable(columns, notes=_estimated_note(r.cost_usd and r.cost_estimated for r in shown))


def trail_table(rows: Sequence[Row]) -> FittedTable:
    """Rows of one kind, one line each: a loop's iterations (its result's `loop.trail`, or the
    progress query's latest), a pipeline's phases, a queue worker's items, a strategy's own steps."""
    first = rows[0] if rows else None
    if isinstance(first, TestRecord):
        return matrix_table([row for row in rows if isinstance(row, TestRecord)])
    if isinstance(first, ComparisonRecord):
        return comparisons_table([row for row in rows if isinstance(row, ComparisonRecord)])
    if isinstance(first, ItemRecord):
        items = [row for row in rows if isinstance(row, ItemRecord)]
        return FittedTable([
            Column("item", [row.id for row in items]),
            Column("status", [row.status for row in items]),
            Column("attempts", [str(row.attempts) for row in items]),
            Column("error", [row.error[:100] for row in items], kind="text"),
        ])
    if isinstance(first, PhaseRecord):
        phases = [row for row in rows if isinstance(row, PhaseRecord)]

        def took(row: PhaseRecord) -> str:
            return f"{row.duration_seconds:.1f}s" + (f" ({row.waited_seconds:.1f}s in line)" if row.waited_seconds >= 0.1 else "")

        return FittedTable([
            Column("step", [str(row.step) for row in phases]),
            Column("phase", [row.phase for row in phases]),
            Column("visit", [str(row.visit) for row in phases]),
            Column("action", [row.action for row in phases]),
            Column("result", [Text("done" if row.ok else "failed", style=STATUS_STYLE.get("success" if row.ok else "failed", "")) for row in phases]),
            Column("time", [took(row) for row in phases]),
            Column("commit", [row.commit[:12] for row in phases]),
            Column("note", ["\n".join([row.note[:100], *(a[:160] for a in row.attempts)]).strip() for row in phases],
                   kind="text"),  # each failed attempt of a chain, and why
        ])
    if isinstance(first, StepRecord):
        steps = [row for row in rows if isinstance(row, StepRecord)]
        names = list(dict.fromkeys(name for row in steps for name in row.fields))
        return FittedTable([Column(name, [str(row.fields.get(name, ""))[:60] for row in steps], kind="text" if name == names[-1] else "keep")
                            for name in names] or [Column("step", [str(n) for n in range(1, len(steps) + 1)])])
    iterations = [row for row in rows if isinstance(row, IterationRecord)]
    return FittedTable([
        Column("iter", [str(row.iteration) for row in iterations]),
        Column("commit", [row.commit[:12] for row in iterations]),
        Column("levels", [",".join(row.levels_passed) or "-" for row in iterations]),
        Column("ci", ["-" if row.ci_passed is None else ("passed" if row.ci_passed else "failed") for row in iterations]),
        Column("changed", ["yes" if row.changed else "no" for row in iterations]),
        Column("decision", [Text(row.action, style=ACTION_STYLE.get(row.action, "")) for row in iterations]),
        Column("time", [f"{row.duration_seconds:.1f}s" for row in iterations]),
        Column("tokens", [_tokens(row.tokens) for row in iterations], short=[short_count(row.tokens) for row in iterations]),
        Column("cost", [_cost_cell(row.cost_usd) for row in iterations], short=[_cost_cell(row.cost_usd, short=True) for row in iterations]),
        Column("reason", [(row.error or row.reason)[:100] for row in iterations], kind="text"),
    ])


def trail_title(rows: Sequence[Row]) -> str:
    return TRAIL_TITLES[type(rows[0])] if rows else "iterations"


def trail_tables(rows: Sequence[Row]) -> list[FittedTable]:
    """A table for each run of rows of one kind (a trail holds one kind, unless a strategy of a user's own mixes them)."""
    return [trail_table(list(same)) for _, same in groupby(rows, key=type)] or [trail_table([])]


def print_trail(console: Console, rows: Sequence[Row], total: int, limit: int | None) -> None:
    shown = rows if limit is None else rows[-limit:]
    if total > len(shown):
        console.print(f"{trail_title(shown)}: the last {len(shown)} of {total} (`orchard show RUN` lists them all)")
    for table in trail_tables(shown):
        console.print(table)


def verification_lines(results: list[InstanceResult]) -> list[str]:
    """Each result that failed its verification (`-S verify`): why, where its log is, and the end
    of what the command said."""
    lines = []
    for r in results:
        if r.metrics.get("verify_passed") is not False:
            continue
        code = r.metrics.get("verify_exit_code")
        why = f"exit {code}" if code is not None else "timed out"
        log = r.verification.log if r.verification else None
        lines.append(f"{r.key}: verification log ({why}): {log or 'none'}")  # that it failed, its note says
        output = ((r.verification.output if r.verification else None) or "").rstrip().splitlines()
        lines += [f"  | {line}" for line in output[-VERIFY_LINES_SHOWN:]]
    return lines


def _trails(r: InstanceResult) -> list[Sequence[Row]]:
    """The trails a result keeps: a loop's iterations, a pipeline's phases, a queue worker's items."""
    trails: list[Sequence[Row]] = []
    if r.loop is not None:
        trails.append(r.loop.trail)
    if r.pipeline is not None:
        trails.append(r.pipeline.phases)
    if r.queue is not None:
        trails.append(r.queue.items)
    return trails


def print_outcome(console: Console, outcome: Outcome, ui_link: str | None, trail_rows: int | None = TRAIL_SHOWN,
                  streamed: dict[str, str] | None = None) -> None:
    """The run's results (`trail_rows`: how many of a loop's iterations, None for all). `streamed`:
    the line printed last for each instance as the run went (plain output), not printed again."""
    result = outcome.result
    if result is not None:
        candidates = any(r.selection and r.selection.candidate for r in result.instances)  # best-of-n's: its table says which agent each was
        console.print((None if candidates else comparison_table(result.instances)) or results_table(result.instances))
        for r in result.instances:
            for rows in _trails(r):
                print_trail(console, rows, len(rows), trail_rows)
        if result.trail:  # what the strategy kept of its steps: best-of-n's tests matrix and comparisons, whole
            print_trail(console, result.trail, len(result.trail), None)
        if len(result.selections) > 1:
            console.print(picks_table(result.selections))
        for r in result.instances:  # a pipeline's publishing: what it moved in the repository, and every push refused
            for refused in r.pipeline.refused if r.pipeline else []:
                console.print(f"refused: {refused}", markup=False, highlight=False)
        for line in verification_lines(result.instances):
            console.print(line)
        winner = next((r for r in result.instances if r.winner), None)
        if winner is not None:
            console.print(f"winner: {winner.branch_name} ({(winner.selection.reason if winner.selection else None) or ''})")
        runners = Counter(r.runner for r in result.instances if r.runner)
        if runners:
            isolation = {"docker": "containers", "sandbox": "sandboxed processes", "local": "local processes, not isolated"}
            console.print("agents ran as " + ", ".join(f"{isolation.get(name, name)} ({count})" for name, count in runners.items()))
        if result.omitted:
            counts = ", ".join(f"{n:,} {status}" for status, n in sorted(result.omitted.items()))
            console.print(f"and {counted(sum(result.omitted.values()), 'more instance')}, not listed ({counts}); each one's result is in the run's history "
                          f"(`orchard history {result.run_id}`)")
        for child in result.children:
            console.print(child_line(child))
        for answer in result.questions:
            console.print(answer_line(answer))
        if result.budget:
            stopped = "" if "the budget stopped" in result.budget else "; no more instances were started"  # a selection's note says it itself
            console.print(f"budget: {result.budget}{stopped}", markup=False, highlight=False)
        chained = f" over {result.runs} runs (continued as new)" if result.runs > 1 else ""
        console.print(
            f"run {result.run_id}: {result.status} in {result.duration_seconds:.1f}s{chained}, "
            f"{counted(result.instances_run, 'instance')}, tokens {_tokens(result.input_tokens + result.output_tokens)}, "
            f"cost {_cost(result.cost_usd, result.cost_estimated)}"
        )
        if outcome.status == "running":
            for line in _now(outcome) + progress_lines(outcome.progress):
                console.print(line)
            console.print(f"run {outcome.run_id} is still running; watch it: orchard watch {outcome.run_id}")
    else:
        if outcome.progress and outcome.progress.instances:
            for p in outcome.progress.instances[-TRAIL_SHOWN:]:
                if (line := instance_line(p, None)) != (streamed or {}).get(p.key):
                    console.print(line)
        if outcome.progress and outcome.progress.trail:
            print_trail(console, outcome.progress.trail, outcome.progress.trail_total, trail_rows)
        for line in _now(outcome) + progress_lines(outcome.progress):
            console.print(line)
        console.print(f"run {outcome.run_id}: {outcome.status}: {outcome.error}")
    if ui_link:
        console.print(f"Temporal UI: {ui_link}")


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "result", "run_id": outcome.run_id, "status": outcome.status, "exit_code": outcome.exit_code}
    if outcome.early:
        data["early"] = True
    if outcome.result is not None:
        data.update(result_json(outcome.result))
    else:
        data["error"] = outcome.error
        data["instances"] = [p.model_dump(mode="json") for p in outcome.progress.instances] if outcome.progress else []
    if outcome.progress is not None and outcome.status == "running":  # what a person is asked now, and the children
        data["phase"] = outcome.progress.phase
        data["waiting_for"] = [q.model_dump(mode="json") for q in outcome.progress.questions]
        data["children"] = [c.model_dump(mode="json") for c in outcome.progress.children]
        data["trail"] = [row.model_dump(mode="json") for row in outcome.progress.trail]
    return data


def result_json(result: RunResult) -> dict[str, Any]:
    """A run's result as `--output json` prints it (but its run id and status): each instance as it
    was before the typed fields, what Orchard says of it under its old keys of `metadata`
    (InstanceResult.legacy_dump), for the scripts that read them."""
    dumped = result.model_dump(mode="json", exclude={"run_id", "status", "instances"})
    instances = [r.legacy_dump() for r in result.instances]
    return {name: instances if name == "instances" else dumped[name] for name in RunResult.model_fields if name in dumped or name == "instances"}


class TuiRenderer:
    """A live table of instances, redrawn in place."""

    def __init__(self, console: Console, header: str, ui_link: str | None):
        self.console, self.header, self.ui_link = console, header, ui_link
        self.live = Live(console=console, refresh_per_second=4, transient=True)
        self.started = time.monotonic()
        self.screen: Group | None = None

    def update(self, snap: Snapshot) -> None:
        progress = snap.progress
        phase = progress.phase if progress else "starting"
        lines: list[Any] = [Text(f"{self.header}  [{phase}, {time.monotonic() - self.started:.0f}s]", style="bold")]
        if self.ui_link:
            lines.append(Text(f"Temporal UI: {self.ui_link}", style="dim"))
        if snap.task_failure:
            lines.append(Text(task_failure_line(snap), style="red"))
        lines += [Text(line, style="yellow") for line in progress_lines(progress)]
        if progress and progress.graph:
            lines += [Text(line, style="bold cyan" if line.startswith("▶") else "") for line in progress.graph]
        if progress and progress.trail:
            earlier = progress.trail_total - min(len(progress.trail), TUI_TRAIL_ROWS)
            title = trail_title(progress.trail)
            lines += [Text(f"{title} ({earlier} earlier)" if earlier else title, style="bold"), *trail_tables(progress.trail[-TUI_TRAIL_ROWS:])]
        if progress and progress.instances:
            running = [p for p in progress.instances if p.status in ("running", "queued")] if progress.trail else progress.instances
            lines += [live_table(running, snap.heartbeats), Text(live_totals(progress.instances, snap.heartbeats, progress.unlisted), style="bold")]
        self.screen = Group(*lines)
        if not self.live.is_started:
            self.live.start()
        self.live.update(self.screen)

    def finish(self, outcome: Outcome) -> None:
        if self.live.is_started:
            self.live.stop()
        print_outcome(self.console, outcome, self.ui_link)

    def close(self) -> None:
        """Detached (Ctrl-C): the last screen stays, above what the command says next."""
        if self.live.is_started:
            self.live.stop()
            if self.screen is not None:
                self.console.print(self.screen)


def _live_usage(p: InstanceProgress, beat: dict[str, Any]) -> tuple[int, float, bool]:
    """(tokens, cost, estimated) so far: the heartbeat's while it runs, the result's once done. A
    heartbeat's cost is an estimate unless it says it is the agent's own figure."""
    if p.status == "running" and beat:
        cost = float(beat.get("cost_usd", 0.0))
        return int(beat.get("input_tokens", 0)) + int(beat.get("output_tokens", 0)), cost, bool(beat.get("cost_estimated", True))
    return p.input_tokens + p.output_tokens, p.cost_usd, p.cost_estimated


def _elapsed(p: InstanceProgress) -> float | None:
    if p.duration_seconds is not None:
        return p.duration_seconds
    if p.started_at is not None and p.status == "running":
        return max((datetime.now(UTC) - p.started_at).total_seconds(), 0.0)
    return None


def live_table(instances: list[InstanceProgress], heartbeats: dict[str, dict[str, Any]]) -> FittedTable:
    """Each instance while the run goes on: status, time, tokens, cost, score, branch, what it does now."""
    beats = [heartbeats.get(p.key) or {} for p in instances]
    usage = [_live_usage(p, beat) for p, beat in zip(instances, beats, strict=True)]
    elapsed = [_elapsed(p) for p in instances]
    scores = [p.metrics.get("score") for p in instances]

    def status(p: InstanceProgress, beat: dict[str, Any]) -> Text:
        attempt = f" (attempt {beat['attempt']})" if beat.get("attempt", 1) > 1 else ""
        return Text(p.status + attempt, style=STATUS_STYLE.get(p.status, ""))

    columns = [
        Column("instance", [p.key for p in instances]),
        Column("status", [status(p, beat) for p, beat in zip(instances, beats, strict=True)]),
        Column("time", [f"{e:.0f}s" if e is not None else "-" for e in elapsed]),
        Column("tokens", [_tokens(tokens) for tokens, _, _ in usage], short=[short_count(tokens) for tokens, _, _ in usage]),
        Column("cost", [_cost_cell(cost, estimated) for _, cost, estimated in usage],
               short=[_cost_cell(cost, estimated, short=True) for _, cost, estimated in usage]),
        Column("score", [f"{score:g}" if score is not None else "-" for score in scores]),
        Column("branch", [p.branch or "-" for p in instances], kind="branch"),
        Column("doing", [str(beat.get("last_event") or beat.get("phase") or p.error or "")[:60] for p, beat in zip(instances, beats, strict=True)],
               kind="text"),
    ]
    return FittedTable(columns, notes=_estimated_note(cost and estimated for _, cost, estimated in usage))


def live_totals(instances: list[InstanceProgress], heartbeats: dict[str, dict[str, Any]], unlisted: dict[str, int] | None = None) -> str:
    """The run's instances by status (those listed and those only counted), tokens and cost (of those listed)."""
    counts = Counter(p.status for p in instances) + Counter(unlisted or {})
    usage = [_live_usage(p, heartbeats.get(p.key) or {}) for p in instances]
    said = ", ".join(f"{counts[s]} {s}" for s in ("running", "queued", "success", "failed", "timeout", "canceled", "stopped") if counts[s])
    cost = sum(c for _, c, _ in usage)
    tokens, estimated = sum(t for t, _, _ in usage), any(c and e for _, c, e in usage)
    return f"{counted(sum(counts.values()), 'instance')}: {said}; tokens {_tokens(tokens)}, cost {_cost(cost, estimated)}"


class StreamingRenderer:
    """One line per change, for logs and pipes."""

    def __init__(self, console: Console, header: str, ui_link: str | None):
        self.console, self.ui_link = console, ui_link
        self.seen: dict[str, str] = {}
        self.last_failure: str | None = None
        console.print(header)
        if ui_link:
            console.print(f"Temporal UI: {ui_link}")

    def update(self, snap: Snapshot) -> None:
        if snap.task_failure and snap.task_failure != self.last_failure:
            self.console.print(task_failure_line(snap))
        self.last_failure = snap.task_failure
        progress = snap.progress
        lines = [(p.key, instance_line(p, snap.heartbeats.get(p.key))) for p in progress.instances] if progress else []
        lines += [(f"child {c.key}", child_line(c)) for c in progress.children] if progress else []
        chain = chain_line(progress) if progress else None
        lines += [("chain", chain)] if chain else []
        first = progress.trail_total - len(progress.trail) if progress else 0  # the place in the whole trail of the first row listed
        lines += [(trail_key(row, first + i), trail_line(row, first + i)) for i, row in enumerate(progress.trail)] if progress else []
        for key, line in lines:
            if self.seen.get(key) != line:
                self.seen[key] = line
                self.console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False)

    def finish(self, outcome: Outcome) -> None:
        print_outcome(self.console, outcome, self.ui_link, streamed=self.seen)

    def close(self) -> None:
        pass


class JsonRenderer:
    """JSON lines on stdout: progress events, then one result object."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def emit(self, data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    def update(self, snap: Snapshot) -> None:
        if snap.task_failure and self.seen.get("strategy failure") != snap.task_failure:
            self.seen["strategy failure"] = snap.task_failure
            self.emit({"type": "strategy_failure", "run_id": snap.run_id, "error": snap.task_failure})
        progress = snap.progress
        if progress is None:
            return
        events = [(p.key, {"type": "instance", "run_id": snap.run_id, **p.model_dump(mode="json"),
                           "heartbeat": snap.heartbeats.get(p.key)}) for p in progress.instances]
        events += [(f"child {c.key}", {"type": "child", "run_id": snap.run_id, **c.model_dump(mode="json")}) for c in progress.children]
        events += [(f"question {q.key}", {"type": "question", "run_id": snap.run_id, **q.model_dump(mode="json")}) for q in progress.questions]
        for key, data in events:
            encoded = json.dumps(data, sort_keys=True)
            if self.seen.get(key) != encoded:
                self.seen[key] = encoded
                self.emit(data)

    def finish(self, outcome: Outcome) -> None:
        self.emit(outcome_json(outcome))

    def close(self) -> None:
        pass


class QuietRenderer:
    """Nothing while running; the final line only."""

    def __init__(self, console: Console):
        self.console = console

    def update(self, snap: Snapshot) -> None:
        pass

    def finish(self, outcome: Outcome) -> None:
        branches = [r.branch_name for r in outcome.result.instances if r.branch_name] if outcome.result else []
        self.console.print(f"{outcome.run_id} {outcome.status} {' '.join(branches)}".rstrip(), highlight=False)
        if outcome.error and outcome.result is None:
            print(f"orchard: run {outcome.run_id}: {outcome.status}: {outcome.error}", file=sys.stderr)

    def close(self) -> None:
        pass


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed stdout (`orchard show RUN | head -1`) is the BrokenPipeError every other write
        to it raises, which the command ends on quietly (client/cli.py), not rich's SystemExit(1)."""
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "stdout closed")


PIPED_WIDTH = 400
"""Wider than any table's columns whole: piped into a log, a table is never fitted (no branch
name shortened, no note moved) and stays on one line per row."""


def make_console() -> Console:
    """The terminal's width on a terminal, PIPED_WIDTH when piped. No markup: what it prints
    (prompts, notes, a command's output) is data, and `[x]` in it is printed as it is."""
    return _Console(highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)


OUTPUT_MODES = ("tui", "streaming", "json", "quiet")
"""How `orchard run` and `orchard watch` show a run; the default is tui on a terminal, else streaming."""


def output_mode(requested: str | None) -> str:
    return requested or ("tui" if sys.stdout.isatty() else "streaming")


def make_renderer(output: str, header: str, ui_link: str | None) -> TuiRenderer | StreamingRenderer | JsonRenderer | QuietRenderer:
    console = make_console()
    if output == "tui":
        return TuiRenderer(console, header, ui_link)
    if output == "streaming":
        return StreamingRenderer(console, header, ui_link)
    if output == "json":
        return JsonRenderer()
    return QuietRenderer(console)
