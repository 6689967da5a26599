"""`runbook-cron`: one run of a runbook's `[cron.NAME]`, as a Temporal Schedule starts it every
`interval` (`orchard runbook cron start`; client/commands/runbook_cron.py makes the schedule).

Each run checks the cron's monitors in order, each with an activity at the repository's root (on
a remote, a checkout of the run's branch as the remote has it now, on the host that runs it; its
source's items, then its condition for each), and acts on the items that match: a monitor's `run`
for each (otters' janitor), or the next step of each item's response ladder (otters' watchdog;
workflows/runbooks/ladder.py decides, an activity runs each action's command). `[safety]` is
checked first: an item naming a protected path or ref is skipped (on_skip), and with
`dry_run_first` the first run acts on nothing and says what it would have done. Then the cron's
own `run`, if it has one. Events fire as things happen (the cron's `[cron.NAME.events]`, else
the runbook's `[events]`). A monitor that fails is logged and the next goes on (otters'
`on_error = "log_and_continue"`).

Where each item is on its ladder is carried from one run to the next as the run's result, which
Temporal hands the schedule's next run (`workflow.get_last_completion_result`): nothing outside
Temporal keeps it, so it survives restarts with the schedule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.runbooks import model as m
from workflows.runbooks.ladder import CronState, Decision, ItemLadder, after, decide
from workflows.runbooks.monitors import KEYS_KEPT, CommandInput, CommandOutcome, MonitorCheck, MonitorCheckInput, item_values
from workflows.runbooks.safety import item_protection
from workflows.runbooks.templates import RenderError, render
from workflows.sdk.context import Context
from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.launch import Launch
from workflows.sdk.models import InstanceResult, RunResult, Selection, key_hash8, truncate
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.sdk.trail import StepRecord
from workflows.sdk.visibility import SA_PIPELINE

STATE_KEY = "cron"
"""Where a run's result keeps the ladders (InstanceResult.metadata[STATE_KEY]): the strategy's own."""
ACTION_TIMEOUT = 300.0
TRAIL_LIMIT = 200


@dataclass
class CronConfig(StrategyConfig):
    cron: str = ""
    """`runbook.cron.NAME`, in `runbooks`."""
    runbooks: dict[str, Any] = field(default_factory=dict)
    """The part of the runbooks the cron reaches (client/runbooks/registry.py's bundle)."""

    def __post_init__(self) -> None:
        m.RunbookSet.carried(self.runbooks, self.cron, "cron")


def carried_state() -> CronState | None:
    """The ladders the schedule's last completed run left (None: this is the first run)."""
    if not workflow.has_last_completion_result():
        return None
    try:
        last: RunResult | None = workflow.get_last_completion_result(RunResult)
        carried = last.instances[0].metadata.get(STATE_KEY) if last and last.instances else None
        return CronState.model_validate(carried) if carried is not None else CronState()
    except (ValidationError, TypeError, ValueError, IndexError):
        return CronState()  # a result this code cannot read: its ladders start again


class CronLaunch(Launch):
    """A cron's runs run commands only (its monitors and actions): at a local repository's root, or
    on a remote in a checkout of its branch on the host that runs each."""

    def needs_agent_command(self, params: dict[str, Any]) -> bool:
        return False


class CronStrategy(Strategy[CronConfig]):
    NAME = "runbook-cron"
    LAUNCH = CronLaunch()

    def get_config_class(self) -> type[CronConfig]:
        return CronConfig

    @classmethod
    def schedule_id_for(cls, cron: m.Ref, repo: str) -> str:
        """One schedule per repository and `[cron.NAME]` (its runs' ids start with it)."""
        return f"cron_{cron.replace('.cron.', '.')}_{key_hash8(repo)}"

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        self._ctx = ctx
        self._book = book = m.RunbookSet.model_validate(cfg.runbooks)
        self._cron = cron = book.get(cfg.cron)
        self._home = home = cron.ref.split(".")[0]
        self._runbook = book.runbooks[home]
        workflow.upsert_search_attributes([SA_PIPELINE.value_set(cron.ref)])
        previous = carried_state()
        self._dry = self._runbook.safety.dry_run_first and previous is None
        state = CronState(runs=(previous.runs if previous else 0) + 1)
        self._trail: list[StepRecord] = []
        ctx.trail = self._trail
        self._said: Counter[str] = Counter()
        notes: list[str] = []
        for reference in cron.monitors:
            monitor: m.MonitorDef = book.get(reference)
            ctx.phase = f"monitor {monitor.name}"
            before = (previous.ladders.get(monitor.name, {}) if previous else {})
            state.ladders[monitor.name] = await self._monitor(monitor, before, notes)
        if cron.command is not None:
            ctx.phase = "the cron's run"
            await self._own_run(cron, notes)
        said = ", ".join(f"{n} {what}" for what, n in self._said.items()) or "nothing to do"
        reason = ("dry run (dry_run_first): nothing was changed; " if self._dry else "") + said
        return [InstanceResult(
            success=True, key="cron", metadata={STATE_KEY: state.model_dump(mode="json")},
            selection=Selection(reason="; ".join([reason, *notes[:5]])),
        )]

    # -- monitors ---------------------------------------------------------------------------

    async def _monitor(self, monitor: m.MonitorDef, before: dict[str, ItemLadder], notes: list[str]) -> dict[str, ItemLadder]:
        """Check the monitor and act on what matches; the ladders of the items that still match."""
        values = {"cron": self._cron.name, "monitor": monitor.name}
        try:
            check: MonitorCheck = await workflow.execute_activity(
                "check_runbook_monitor", MonitorCheckInput(repo=self._ctx._state.repo, base_branch=self._ctx._state.base_branch, monitor=monitor,
                                                           config=self._runbook.config, values=values, timeout=monitor.timeout or 120.0),
                result_type=MonitorCheck, start_to_close_timeout=timedelta(seconds=(monitor.timeout or 120.0) * 4 + 120),
                retry_policy=INFRA_RETRY, summary=f"check monitor {monitor.name}",
            )
        except ActivityError as e:
            cause = e.cause
            check = MonitorCheck(error=cause.message if isinstance(cause, ApplicationError) else str(cause or e))
        if check.error:
            notes.append(f"monitor {monitor.name}: {check.error}")
            self._row(monitor.name, "", "source", False, check.error)
            workflow.logger.warning("cron %s: monitor %s: %s", self._cron.name, monitor.name, check.error)
            return before  # nothing was seen: every ladder stays where it was
        for skipped in check.skipped:
            await self._skip(monitor, skipped.key, skipped.item, skipped.reason)
        ladders = {key: before.get(key, ItemLadder()) for key in check.matching[:KEYS_KEPT]} if monitor.response else {}
        for matched in check.matched:
            protection = item_protection(self._runbook.safety, matched.item, check.root or self._ctx._state.repo)
            if protection is not None:
                value, entry = protection
                await self._skip(monitor, matched.key, matched.item, f"{value} is protected by [safety] ({entry})")
                continue
            if monitor.response:
                ladders[matched.key] = await self._ladder(monitor, matched.key, matched.item, ladders.get(matched.key, ItemLadder()))
            else:
                await self._run(monitor, matched.key, matched.item)
        return ladders

    async def _run(self, monitor: m.MonitorDef, key: str, item: Any) -> None:
        """A monitor's `run` for one item. When it works, the item was handled: otters' janitor says
        it cleaned it (on_clean), its triager that it retried it (on_retry); each fires when written.
        When it fails, the item is left as it is and the next run of the cron tries again."""
        assert monitor.command is not None
        if self._dry:
            await self._skip(monitor, key, item, f"dry run (dry_run_first): would run {monitor.name}'s run")
            return
        outcome = await self._command(monitor.command, self._values(monitor, item), f"monitor {monitor.name} for {key}")
        if outcome is None:
            return
        self._row(monitor.name, key, "run", outcome.ok, _tail(outcome))
        if not outcome.ok:
            self._said["failed (tried again next run)"] += 1
            return
        self._said["handled"] += 1
        for what in ("clean", "retry"):
            await self._event(what, monitor, item)

    async def _ladder(self, monitor: m.MonitorDef, key: str, item: Any, record: ItemLadder) -> ItemLadder:
        """The item's next steps: an action that works (or a wait, escalate, abandon) ends them for this run."""
        for _ in range(len(monitor.response) + 2):  # each failed step moves on: the ladder ends within its length
            decision, record = decide(monitor.response, record, self._action, workflow.now())
            if decision.kind == "wait":
                self._row(monitor.name, key, decision.step or "wait", True, decision.note)
                return record
            if self._dry:
                await self._skip(monitor, key, item, f"dry run (dry_run_first): would {_doing(decision)}")
                return record
            action = self._action(decision.action) if decision.action is not None else None
            ok = True
            if action is not None:
                outcome = await self._command(action.command, self._values(monitor, item), f"{decision.step} for {key}", action.timeout)
                ok = outcome is not None and outcome.ok
                self._row(monitor.name, key, decision.step, ok, _tail(outcome) if outcome else "its command could not be rendered for this item")
            record = after(record, decision, ok, workflow.now(), action.name if action is not None else None)
            if decision.kind in ("escalate", "abandon"):
                ran = ", ".join(name + (f" x{times}" if times > 1 else "") for name, times in record.counts.items() if name != decision.step)
                why = f"{monitor.name}: {key} still matches after " + (ran or "nothing ran") + (f" ({decision.note})" if decision.note else "")
                self._said["escalated" if decision.kind == "escalate" else "abandoned"] += 1
                if action is None:
                    self._row(monitor.name, key, decision.kind, True, why)
                message = f"monitor {why}"
                await self._event(decision.kind, monitor, item, reason=why, message=message)
                return record
            if ok:
                self._said[decision.step] += 1
                await self._event(decision.step, monitor, item)
                return record
        return record

    def _action(self, reference: m.Ref) -> m.ActionDef:
        found: m.ActionDef = self._book.get(reference)
        return found

    async def _skip(self, monitor: m.MonitorDef, key: str, item: Any, reason: str) -> None:
        self._said["skipped"] += 1
        self._row(monitor.name, key, "skip", True, reason)
        await self._event("skip", monitor, item, reason=reason)

    async def _own_run(self, cron: m.CronDef, notes: list[str]) -> None:
        assert cron.command is not None
        if self._dry:
            self._row("", "", "run", True, "dry run (dry_run_first): the cron's run did not run")
            return
        outcome = await self._command(cron.command, {"cron": cron.name}, f"cron {cron.name}'s run")
        if outcome is not None:
            self._row("", "", "run", outcome.ok, _tail(outcome))
            if not outcome.ok:
                notes.append(f"the cron's run exited {outcome.exit_code}: {_tail(outcome)}")

    # -- commands and events ----------------------------------------------------------------

    def _values(self, monitor: m.MonitorDef, item: Any, **more: Any) -> dict[str, Any]:
        return {**item_values(item), "cron": self._cron.name, "monitor": monitor.name, **more}

    async def _command(self, template: m.Template, values: dict[str, Any], label: str, timeout: float | None = None) -> CommandOutcome | None:
        """`template` rendered and run at the repository's root; None when it cannot be rendered (said in the log)."""
        try:
            command = render(template, {**values, "config": self._book.runbooks[template.runbook].config})
        except RenderError as e:
            workflow.logger.warning("cron %s: %s: %s", self._cron.name, label, e)
            return None
        seconds = timeout or ACTION_TIMEOUT
        outcome: CommandOutcome = await workflow.execute_activity(
            "run_runbook_command", CommandInput(repo=self._ctx._state.repo, base_branch=self._ctx._state.base_branch, command=command, label=label,
                                                timeout=seconds),
            result_type=CommandOutcome, start_to_close_timeout=timedelta(seconds=seconds + 60), retry_policy=INFRA_RETRY, summary=label[:200],
        )
        return outcome

    async def _event(self, what: str, monitor: m.MonitorDef, item: Any, **more: Any) -> None:
        """The event's command: the cron's own, else the runbook's (for the cron by name, then for all); failing, it is logged."""
        template = self._cron.events.hooks.get(what) or self._runbook.events.command(what, self._cron.name, monitor.name)
        if template is None:
            return
        values = self._values(monitor, item, **{"reason": "", "message": "", "action": what, **more})
        outcome = await self._command(template, values, f"event on_{what}", 60.0)
        if outcome is not None and not outcome.ok:
            workflow.logger.warning("cron %s: on_%s exited %s: %s", self._cron.name, what, outcome.exit_code, _tail(outcome))

    def _row(self, monitor: str, key: str, step: str, ok: bool, note: str) -> None:
        if len(self._trail) < TRAIL_LIMIT:
            row = {"monitor": monitor, "item": truncate(key, 60) or "", "step": step, "ok": ok, "note": truncate(note, 200) or ""}
            self._trail.append(StepRecord.model_validate(row))  # a row of a strategy's own: what the cron did


def _doing(decision: Decision) -> str:
    return {"action": f"run {decision.step}", "escalate": "escalate", "abandon": "abandon the item"}.get(decision.kind, decision.kind)


def _tail(outcome: CommandOutcome) -> str:
    if outcome.exit_code is None:
        return "did not finish in time"
    lines = [line for line in outcome.output_tail.strip().splitlines() if line.strip()]
    return " | ".join(lines[-2:])
