"""How a run looks: live (tui, streaming, json lines, quiet) and its final results."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from client.snapshots import Outcome, Snapshot
from workflows.sdk.models import Answer, ChildRun, InstanceProgress, InstanceResult, Question, RunProgress

ACTION_STYLE = {"continue": "cyan", "complete": "green", "timeout": "red", "fail": "red", "budget": "yellow", "stopped": "yellow"}
TRAIL_SHOWN = 20
"""A loop's latest iterations `orchard run` and `watch` print at the end (`orchard show` prints all)."""
TUI_TRAIL_ROWS = 10
STATUS_STYLE = {"success": "green", "running": "cyan", "queued": "dim", "failed": "red", "timeout": "red", "canceled": "yellow", "stopped": "yellow"}


def _cost(value: float, estimated: bool = False) -> str:
    return f"${value:.4f}" + (" (estimated)" if estimated else "") if value else "-"


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
    spent = f", {c.totals.instances_run} instances, cost {_cost(c.totals.cost_usd, c.totals.cost_estimated)}" if c.status != "running" else ""
    error = f": {c.error}" if c.error else ""
    return f"child {c.key} {c.strategy} {c.status}{spent} (run {c.run_id}){error}"


def chain_line(progress: RunProgress) -> str | None:
    """What the earlier runs of a chain did (a run continued as new), or None for a single run."""
    if progress.runs <= 1:
        return None
    counts = ", ".join(f"{n} {status}" for status, n in sorted(progress.earlier.items()))
    return f"run {progress.runs} of its chain (continued as new); earlier instances: {counts or 'none'}"


def _pipeline_row(row: dict[str, Any]) -> bool:
    """A pipeline's phase (workflows/runbooks/pipeline.py's PhaseRecord), not a loop's iteration."""
    return "phase" in row


def _item_row(row: dict[str, Any]) -> bool:
    """A queue worker's item (workflows/runbooks/worker.py's ItemRecord)."""
    return "attempts" in row and "id" in row


def trail_key(row: dict[str, Any]) -> str:
    if _item_row(row):
        return f"item {row['id']}"
    return f"phase {row.get('step')}" if _pipeline_row(row) else f"iteration {row.get('iteration')}"


def trail_line(row: dict[str, Any]) -> str:
    if _item_row(row):
        error = f": {row['error']}" if row.get("error") else ""
        return f"item {row['id']}: {row['status']} (attempt {row.get('attempts', 0)}){error}"
    if _pipeline_row(row):
        visit = f" (visit {row['visit']})" if row.get("visit", 1) > 1 else ""
        note = f": {row['note']}" if row.get("note") else ""
        return f"phase {row['phase']}{visit}: {'done' if row.get('ok') else 'failed'}{note} (commit {str(row.get('commit', ''))[:12]})"
    levels = ",".join(row.get("levels_passed") or []) or "none"
    return f"iteration {row.get('iteration')}: {row.get('action')}: {row.get('reason')} (levels passed: {levels}, commit {str(row.get('commit', ''))[:12]})"


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
    lines = [child_line(c) for c in progress.children]
    chain = chain_line(progress)
    if chain:
        lines.append(chain)
    several = len(progress.questions) > 1
    lines += [question_line(progress.run_id, q, several).removeprefix("orchard: ") for q in progress.questions]
    return lines


def instance_line(p: InstanceProgress, beat: dict[str, Any] | None) -> str:
    where = p.branch or ""
    event = (beat or {}).get("last_event") or (beat or {}).get("phase") or p.error or ""
    attempt = f" (attempt {beat['attempt']})" if beat and beat.get("attempt", 1) > 1 else ""
    return f"{p.key:<18} {p.status:<8}{attempt} {where} {event}".rstrip()


def results_table(results: list[InstanceResult]) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for col in ("", "instance", "status", "branch", "score", "+/-", "time", "tokens", "cost"):
        table.add_column(col, no_wrap=True)
    table.add_column("note")
    for r in results:
        score = r.metrics.get("score")
        note = r.error or r.metadata.get("selection_reason") or r.metadata.get("ineligible") or ""
        if r.metrics.get("verify_passed") is False:
            note = note or "verification failed"
        table.add_row(
            "★" if r.metadata.get("winner") else "",
            r.key,
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            r.branch_name or "-",
            f"{score:g}" if isinstance(score, (int, float)) else "-",
            f"+{r.insertions}/-{r.deletions}" if r.has_changes else "-",
            f"{r.duration_seconds:.1f}s" if r.duration_seconds is not None else "-",
            _tokens(r.tokens),
            _cost(r.cost_usd, r.cost_estimated),
            note[:80],
        )
    return table


def comparison_table(results: list[InstanceResult]) -> Table | None:
    """Variants side by side, from the rows variant strategies leave in `metadata.comparison`."""
    rows = [(r, r.metadata["comparison"]) for r in results if isinstance(r.metadata.get("comparison"), dict)]
    if not rows:
        return None
    table = Table(show_edge=False, header_style="bold")
    for col in ("variant", "role", "status", "branch", "files", "time", "tokens", "cost", "verify"):
        table.add_column(col, no_wrap=True)
    table.add_column("note")
    for r, row in rows:
        verified = row.get("verified")
        table.add_row(
            Text(str(row.get("variant"))),
            str(row.get("role", "")),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            r.branch_name or "-",
            str(row.get("files_changed", 0)),
            f"{r.duration_seconds:.1f}s" if r.duration_seconds is not None else "-",
            _tokens(r.tokens),
            _cost(r.cost_usd, r.cost_estimated),
            "-" if verified is None else ("passed" if verified else "failed"),
            (r.error or "")[:80],
        )
    return table


def trail_table(rows: list[dict[str, Any]]) -> Table:
    """A loop's iterations (`metadata.iterations`, or the progress query's latest), or a pipeline's
    phases (`metadata.phases`), one row each."""
    table = Table(show_edge=False, header_style="bold")
    if rows and _item_row(rows[0]):
        for col in ("item", "status", "attempts"):
            table.add_column(col, no_wrap=True)
        table.add_column("error")
        for row in rows:
            table.add_row(str(row["id"]), str(row["status"]), str(row.get("attempts", 0)), str(row.get("error", ""))[:100])
        return table
    if rows and _pipeline_row(rows[0]):
        for col in ("step", "phase", "visit", "action", "result", "time", "commit"):
            table.add_column(col, no_wrap=True)
        table.add_column("note")
        for row in rows:
            ok = bool(row.get("ok"))
            waited = row.get("waited_seconds") or 0
            took = f"{row.get('duration_seconds') or 0:.1f}s" + (f" ({waited:.1f}s in line)" if waited >= 0.1 else "")
            table.add_row(str(row.get("step", "")), str(row["phase"]), str(row.get("visit", 1)), str(row.get("action", "")),
                          Text("done" if ok else "failed", style=STATUS_STYLE.get("success" if ok else "failed", "")),
                          took, str(row.get("commit", ""))[:12], str(row.get("note", ""))[:100])
        return table
    for col in ("iter", "commit", "levels", "ci", "changed", "decision", "time", "tokens", "cost"):
        table.add_column(col, no_wrap=True)
    table.add_column("reason")
    for row in rows:
        ci = row.get("ci_passed")
        action = str(row.get("action", ""))
        table.add_row(
            str(row.get("iteration", "")),
            str(row.get("commit", ""))[:12],
            ",".join(row.get("levels_passed") or []) or "-",
            "-" if ci is None else ("passed" if ci else "failed"),
            "yes" if row.get("changed") else "no",
            Text(action, style=ACTION_STYLE.get(action, "")),
            f"{row.get('duration_seconds', 0):.1f}s",
            _tokens(int(row.get("tokens", 0))),
            _cost(float(row.get("cost_usd", 0.0))),
            str(row.get("error") or row.get("reason", ""))[:100],
        )
    return table


def print_trail(console: Console, rows: list[dict[str, Any]], total: int, limit: int | None) -> None:
    shown = rows if limit is None else rows[-limit:]
    if total > len(shown):
        title = "items" if shown and _item_row(shown[0]) else "phases" if shown and _pipeline_row(shown[0]) else "iterations"
        console.print(f"{title}: the last {len(shown)} of {total} (`orchard show RUN` lists them all)")
    console.print(trail_table(shown))


def print_outcome(console: Console, outcome: Outcome, ui_link: str | None, trail_rows: int | None = TRAIL_SHOWN) -> None:
    """The run's results (`trail_rows`: how many of a loop's iterations, None for all)."""
    result = outcome.result
    if result is not None:
        console.print(comparison_table(result.instances) or results_table(result.instances))
        for r in result.instances:
            for kind in ("iterations", "phases", "items"):
                if isinstance(r.metadata.get(kind), list):
                    print_trail(console, r.metadata[kind], len(r.metadata[kind]), trail_rows)
        winner = next((r for r in result.instances if r.metadata.get("winner")), None)
        if winner is not None:
            console.print(f"winner: {winner.branch_name} ({winner.metadata.get('selection_reason', '')})")
        runners = Counter(r.metadata["runner"] for r in result.instances if r.metadata.get("runner"))
        if runners:
            isolation = {"docker": "containers", "local": "local processes, not isolated"}
            console.print("agents ran as " + ", ".join(f"{isolation.get(name, name)} ({count})" for name, count in runners.items()))
        if result.omitted:
            counts = ", ".join(f"{n:,} {status}" for status, n in sorted(result.omitted.items()))
            console.print(f"and {sum(result.omitted.values()):,} more instances, not listed ({counts}); each one's result is in the run's history (`orchard history {result.run_id}`)")
        for child in result.children:
            console.print(child_line(child))
        for answer in result.questions:
            console.print(answer_line(answer))
        chained = f" over {result.runs} runs (continued as new)" if result.runs > 1 else ""
        console.print(
            f"run {result.run_id}: {result.status} in {result.duration_seconds:.1f}s{chained}, "
            f"{result.instances_run} instances, tokens {_tokens(result.input_tokens + result.output_tokens)}, "
            f"cost {_cost(result.cost_usd, result.cost_estimated)}"
        )
        if outcome.status == "running":
            for line in _now(outcome) + progress_lines(outcome.progress):
                console.print(line)
            console.print(f"run {outcome.run_id} is still running; watch it: orchard watch {outcome.run_id}")
    else:
        if outcome.progress and outcome.progress.instances:
            for p in outcome.progress.instances[-TRAIL_SHOWN:]:
                console.print(instance_line(p, None))
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
        data.update(outcome.result.model_dump(mode="json", exclude={"run_id", "status"}))
    else:
        data["error"] = outcome.error
        data["instances"] = [p.model_dump(mode="json") for p in outcome.progress.instances] if outcome.progress else []
    if outcome.progress is not None and outcome.status == "running":  # what a person is asked now, and the children
        data["phase"] = outcome.progress.phase
        data["waiting_for"] = [q.model_dump(mode="json") for q in outcome.progress.questions]
        data["children"] = [c.model_dump(mode="json") for c in outcome.progress.children]
        data["trail"] = outcome.progress.trail
    return data


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
            title = "items" if _item_row(progress.trail[0]) else "phases" if _pipeline_row(progress.trail[0]) else "iterations"
            lines += [Text(f"{title} ({earlier} earlier)" if earlier else title, style="bold"), trail_table(progress.trail[-TUI_TRAIL_ROWS:])]
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
    """(tokens, cost, estimated) so far: the heartbeat's while it runs, the result's once done."""
    if p.status == "running" and beat:
        return int(beat.get("input_tokens", 0)) + int(beat.get("output_tokens", 0)), float(beat.get("cost_usd", 0.0)), False
    return p.input_tokens + p.output_tokens, p.cost_usd, p.cost_estimated


def _elapsed(p: InstanceProgress) -> float | None:
    if p.duration_seconds is not None:
        return p.duration_seconds
    if p.started_at is not None and p.status == "running":
        return max((datetime.now(timezone.utc) - p.started_at).total_seconds(), 0.0)
    return None


def live_table(instances: list[InstanceProgress], heartbeats: dict[str, dict[str, Any]]) -> Table:
    """Each instance while the run goes on: status, time, tokens, cost, score, what it does now."""
    table = Table(show_edge=False, header_style="bold")
    for col in ("instance", "status", "time", "tokens", "cost", "score", "doing", "branch"):
        table.add_column(col, no_wrap=col != "doing")
    for p in instances:
        beat = heartbeats.get(p.key) or {}
        tokens, cost, estimated = _live_usage(p, beat)
        elapsed = _elapsed(p)
        score = p.metrics.get("score")
        doing = beat.get("last_event") or beat.get("phase") or p.error or ""
        attempt = f" (attempt {beat['attempt']})" if beat.get("attempt", 1) > 1 else ""
        table.add_row(
            p.key, Text(p.status + attempt, style=STATUS_STYLE.get(p.status, "")), f"{elapsed:.0f}s" if elapsed is not None else "-",
            _tokens(tokens), _cost(cost, estimated), f"{score:g}" if score is not None else "-", str(doing)[:60], p.branch or "-",
        )
    return table


def live_totals(instances: list[InstanceProgress], heartbeats: dict[str, dict[str, Any]], unlisted: dict[str, int] | None = None) -> str:
    """The run's instances by status (those listed and those only counted), tokens and cost (of those listed)."""
    counts = Counter(p.status for p in instances) + Counter(unlisted or {})
    usage = [_live_usage(p, heartbeats.get(p.key) or {}) for p in instances]
    said = ", ".join(f"{counts[s]} {s}" for s in ("running", "queued", "success", "failed", "timeout", "canceled", "stopped") if counts[s])
    cost = sum(c for _, c, _ in usage)
    return f"{sum(counts.values()):,} instances: {said}; tokens {_tokens(sum(t for t, _, _ in usage))}, cost {_cost(cost, any(e for _, _, e in usage))}"


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
        lines += [(trail_key(row), trail_line(row)) for row in progress.trail] if progress else []
        for key, line in lines:
            if self.seen.get(key) != line:
                self.seen[key] = line
                self.console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False)

    def finish(self, outcome: Outcome) -> None:
        print_outcome(self.console, outcome, self.ui_link)

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
        events = [(p.key, {"type": "instance", "run_id": snap.run_id, **p.model_dump(mode="json"), "heartbeat": snap.heartbeats.get(p.key)}) for p in progress.instances]
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


def make_console() -> Console:
    """Wide when piped, so branch names and tables stay on one line in logs."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


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
