"""`loop`: one agent iterates on one branch until its mode's decider says it is done.

Each iteration is one `run_iteration` activity on the host that holds the loop's workspace (its
task queue `<queue>@<host>`): the agent works from the last finished iteration's commit, the
verification levels and `ci` run on its commit, and the loop's branch fast-forwards to it. Then
the mode's decider (fixed, hybrid, ralph, custom: workflows/loops/modes/; AgentGate's "loop
strategies") decides, here in the workflow and deterministically, whether to go on; every
decision is kept in the trail. Budgets and a person's steering (`orchard loop stop|nudge|extend`,
Temporal updates) come on top. The loop continues as new every `iterations_per_run` iterations
with all its state in one LoopState.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.loops.feedback import DEFAULT_FEEDBACK, check_template, render_feedback
from workflows.loops.iterations import run_iteration
from workflows.loops.models import LEVELS, MAX_LOOP_ITERATIONS, Decision, IterationContext, IterationInput, IterationOutcome, IterationRecord, LoopState, Nudge
from workflows.loops.modes.base import BaseLoopDecider, LoopDecider
from workflows.loops.registry import create_decider, mode_settings
from workflows.sdk.context import Context
from workflows.sdk.durations import parse_duration
from workflows.sdk.errors import ConfigError, SteerRefused, StrategyError
from workflows.sdk.hosts import HostPlace, HostWorkFailed
from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.launch import Launch
from workflows.sdk.models import CommitStats, InstanceResult, LoopSummary, Selection, SteerRequest, is_remote_repo, truncate
from workflows.sdk.strategy import Strategy, StrategyConfig
from workflows.sdk.trail import Level

LOOP_KEY = "loop"
REASON_LIMIT = 200
AGENTGATE_RULES = "loop-agentgate-rules"
"""The patch under which the built-in modes decide by AgentGate's rules (issue 26: hybrid goes on to
its maximum, ralph reads signals in any case and compares window_size earlier outputs, ci_pass
without a ci command counts a passed verification); a run begun before it decides as it did."""

MODE_SETTINGS = (
    "max_iterations", "base_iterations", "max_bonus_iterations", "progress_threshold", "completion", "min_verification_level",
    "accept_partial_after", "loop_detection", "min_iterations", "similarity_threshold", "window_size", "skip_verification", "state_dir", "module", "config",
)
"""The deciders' own settings: `-S` takes each flat and hands those given to the mode's decider."""


@dataclass
class LoopConfig(StrategyConfig):
    mode: str = "hybrid"
    max_iterations: int | None = None
    base_iterations: int | None = None
    max_bonus_iterations: int | None = None
    progress_threshold: float | None = None
    completion: list[str] | None = None
    min_verification_level: str | None = None
    accept_partial_after: int | None = None
    loop_detection: list[str] | None = None
    min_iterations: int | None = None
    similarity_threshold: float | None = None
    window_size: int | None = None
    skip_verification: bool | None = None
    state_dir: str | None = None
    module: str | None = None
    config: dict[str, Any] | None = None
    verify: dict[str, list[str] | str] | list[str] | str = field(default_factory=dict)
    """Verification commands by level ({L0: [...], L1: ...}); a command or a list of them is L0."""
    ci: str = ""
    verify_timeout: float = 1800.0
    context: Literal["fresh", "resume"] = "fresh"
    feedback_template: str = ""
    max_cost_usd: float | None = None
    max_duration: str | float | None = None
    on_fail: Literal["fail", "ask"] = "fail"
    ask_timeout: float = 0.0
    """Seconds a failed loop waits for a person's answer before failing (0: as long as it takes)."""
    retry_iterations: int = 3
    """Iterations a person's "retry" grants a failed loop."""
    iterations_per_run: int = 100
    """Iterations in one history before the loop continues as new."""
    host_timeout: float = 300.0
    """Seconds an iteration waits for the host holding the workspace before moving to another host."""

    def __post_init__(self) -> None:
        self.levels()
        decider = create_decider(self.mode_config())
        if decider.max_iterations > MAX_LOOP_ITERATIONS:
            raise ValueError(f"a loop runs at most {MAX_LOOP_ITERATIONS} iterations (its trail travels in its state)")
        check_template(self.feedback_template or DEFAULT_FEEDBACK)
        if self.max_duration is not None:
            parse_duration(self.max_duration)
        for name in ("iterations_per_run", "retry_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.verify_timeout <= 0 or self.host_timeout <= 0 or self.ask_timeout < 0:
            raise ValueError("verify_timeout and host_timeout must be positive, ask_timeout 0 or more")
        if self.max_cost_usd is not None and self.max_cost_usd <= 0:
            raise ValueError("max_cost_usd must be positive")

    def mode_config(self) -> dict[str, Any]:
        given = {k: getattr(self, k) for k in MODE_SETTINGS if getattr(self, k) is not None}
        accepted = set(mode_settings(self.mode)) if given else set()
        foreign = sorted(set(given) - accepted)
        if foreign:
            raise ConfigError(f"{', '.join(foreign)} {'is not a setting' if len(foreign) == 1 else 'are not settings'} of loop mode {self.mode!r}; "
                              f"it takes: {', '.join(mode_settings(self.mode)) or 'none'}")
        return {"mode": self.mode, **given}

    def levels(self) -> dict[Level, list[str]]:
        """The verification commands by level, lowest first."""
        raw = self.verify
        if isinstance(raw, (str, list)):
            raw = {"L0": raw} if raw else {}
        levels: dict[str, list[str]] = {}
        for level, commands in raw.items():
            if level not in LEVELS:
                raise ValueError(f"verify: unknown level {level!r}; levels are {', '.join(LEVELS)}")
            listed = [commands] if isinstance(commands, str) else list(commands)
            if not listed or any(not isinstance(c, str) or not c.strip() for c in listed):
                raise ValueError(f"verify: level {level} needs one or more commands")
            levels[level] = listed
        return {level: levels[level] for level in LEVELS if level in levels}


class LoopLaunch(Launch):
    """A loop's `module` names a custom decider's code. (Its branch is written in place in a local
    repository, or pushed with a lease to a remote: either works.)"""

    module_params = ("module",)


class LoopStrategy(Strategy[LoopConfig]):
    """The `loop` strategy (one workflow per run); what it decides after each iteration it asks
    its mode's LoopDecider."""

    NAME = "loop"
    LAUNCH = LoopLaunch()

    def get_config_class(self) -> type[LoopConfig]:
        return LoopConfig

    async def execute(self, prompt: str, base_branch: str, ctx: Context) -> list[InstanceResult]:
        cfg = self.create_config()
        self._cfg = cfg
        self._state = state = LoopState.model_validate(ctx.carried) if ctx.carried else LoopState(commit=ctx.base_commit)
        self._running: int | None = None
        self._decider = decider = create_decider(cfg.mode_config())
        if isinstance(decider, BaseLoopDecider) and not workflow.patched(AGENTGATE_RULES):
            decider.legacy = True
        if ctx.carried:
            decider.restore_state(state.strategy_state)
        for request in self._early:  # asked while this run of the chain was starting
            try:
                self.check_steer(request)
            except SteerRefused as e:
                workflow.logger.warning("a %s asked while the loop started is dropped: %s", request.action, e)
                continue
            self.steer(request)
        self._early = []
        ctx.trail = state.trail
        branch = ctx.branch_for(LOOP_KEY)
        in_this_run = 0
        try:
            while True:
                n = state.iteration + 1
                ctx.phase = f"iteration {n}"
                decider.on_iteration_start(n)
                outcome = await self._iterate(ctx, decider, prompt, base_branch, branch, n)
                context = self._context(ctx, n, decider, outcome)
                decision = self._steered(decider.should_continue(context), context, ctx)
                decider.on_iteration_complete(context, decision)
                self._advance(ctx, n, decider, outcome, decision)
                if not decision.should_continue and decision.action == "fail" and cfg.on_fail == "ask":
                    decision = await self._ask(ctx, decision)
                if not decision.should_continue:
                    break
                in_this_run += 1
                if in_this_run >= cfg.iterations_per_run or ctx.should_continue_as_new():
                    await ctx.continue_as_new(state.model_dump(mode="json"))
        except (asyncio.CancelledError, StrategyError):  # canceled, or the loop cannot go on: its workspace goes all the same
            await self._finish(ctx)
            raise
        decider.on_run_complete(decision)
        ctx.phase = "removing the workspace"
        stats = await self._finish(ctx)
        return [self._result(ctx, branch, decision, stats)]

    # -- one iteration --------------------------------------------------------------------

    async def _iterate(self, ctx: Context, decider: LoopDecider, prompt: str, base_branch: str, branch: str, n: int) -> IterationOutcome:
        cfg, state = self._cfg, self._state
        levels = cfg.levels() if decider.runs_verification else {}
        task = ctx.task({"prompt": self._prompt(prompt, n, decider), "base_branch": base_branch, "model": cfg.model})
        state.nudges = []
        key = f"iteration/{n}"
        ctx.track(key, task.plugin, branch)
        self._running = n
        commands = sum(len(c) for c in levels.values()) + (1 if cfg.ci else 0)
        place = HostPlace(state.host_queue, cfg.host_timeout, move_when_lost=is_remote_repo(ctx._state.repo))
        try:
            outcome = await run_iteration(
                ctx, key, place, lambda move: IterationInput(
                    repo=ctx._state.repo, run_id=ctx.run_id, loop_key=LOOP_KEY, iteration=n, attempt_key=f"{n}.{move}", branch=branch,
                    start_commit=state.commit, branch_exists=state.branch_exists, task=task, session_id=state.session_id, levels=levels, ci=cfg.ci,
                    verify_timeout=cfg.verify_timeout, files=decider.workspace_files(n),
                ), task.timeout + commands * cfg.verify_timeout + 300, f"loop iteration {n}",
            )
        except asyncio.CancelledError:
            ctx.settle(key, None)
            raise
        except HostWorkFailed as e:
            ctx.settle(key, InstanceResult(success=False, status="failed", key=key, error=str(e), plugin=task.plugin))
            raise StrategyError(f"loop iteration {n} could not run: {e}") from None
        finally:
            state.host_queue = place.queue  # a lost host is forgotten: the next one checks the loop's branch out afresh
            self._running = None
        ctx.settle(key, outcome.agent)
        return outcome

    def _prompt(self, prompt: str, n: int, decider: LoopDecider) -> str:
        cfg, state, last = self._cfg, self._state, self._state.last
        report = last.verification if last else None
        failures = [
            {"level": level, "command": c.command, "exit_code": c.exit_code, "output_tail": c.output_tail}
            for level, c in (report.failing() if report else [])
        ]
        if last and last.ci and not last.ci.passed:
            failures.append({"level": "ci", "command": last.ci.command, "exit_code": last.ci.exit_code, "output_tail": last.ci.output_tail})
        return render_feedback(cfg.feedback_template or DEFAULT_FEEDBACK, {
            "task": prompt,
            "iteration": n,
            "max_iterations": self._max_iterations(decider),
            "failures": failures,
            "verified": bool(report and report.passed),
            "highest_level": report.highest_passing if report else None,
            "agent_output": last.agent.final_message or "" if last else "",
            "reason": state.last_reason,
            "nudges": [nudge.text for nudge in state.nudges],
            "resume": cfg.context == "resume",
        })

    def _max_iterations(self, decider: LoopDecider) -> int:
        return min(decider.max_iterations + self._state.extra_iterations, MAX_LOOP_ITERATIONS)

    def _context(self, ctx: Context, n: int, decider: LoopDecider, outcome: IterationOutcome) -> IterationContext:
        totals = ctx.totals()
        return IterationContext(
            iteration=n,
            max_iterations=self._max_iterations(decider),
            snapshot=outcome.snapshot,
            verification=outcome.verification,
            ci=outcome.ci,
            agent_output=outcome.agent.final_message or "",
            agent_error=outcome.agent.error if not outcome.agent.success else None,
            history=self._state.trail,
            elapsed_seconds=(workflow.now() - ctx.started_at).total_seconds(),
            cost_usd=totals.cost_usd,
            tokens=totals.input_tokens + totals.output_tokens,
        )

    def _steered(self, decision: Decision, context: IterationContext, ctx: Context) -> Decision:
        """A person's stop, the budgets (the loop's own max_cost_usd and max_duration, then the
        run's --max-cost and --max-tokens, which every strategy has), then the most iterations end
        a loop its decider would go on with."""
        if not decision.should_continue:
            return decision
        cfg, state = self._cfg, self._state
        if state.stop_by is not None:
            return Decision.stop("stopped", f"stopped by a person ({state.stop_by or 'unknown'}) after iteration {context.iteration}", by=state.stop_by)
        if cfg.max_cost_usd is not None and context.cost_usd >= cfg.max_cost_usd:
            return Decision.stop("budget", f"spent ${context.cost_usd:.4f} of the ${cfg.max_cost_usd:g} budget in {context.iteration} iterations",
                                 cost_usd=context.cost_usd)
        if cfg.max_duration is not None and context.elapsed_seconds >= parse_duration(cfg.max_duration):
            return Decision.stop("budget", f"ran {context.elapsed_seconds:.1f}s of the {cfg.max_duration} allowed in {context.iteration} iterations",
                                 elapsed_seconds=round(context.elapsed_seconds, 3))
        spent = ctx.budget_reached() if ctx.budget.budget is not None else None
        if spent:
            return Decision.stop("budget", f"{spent} in {context.iteration} iterations", cost_usd=context.cost_usd, tokens=context.tokens)
        # A user's decider may say go on forever; the bound it declares holds all the same (patched:
        # a loop running before this check went on as its decider said).
        if context.iteration >= context.max_iterations and workflow.patched("loop-iteration-bound"):
            return Decision.stop("timeout", f"reached its most iterations ({context.max_iterations}); its decider would go on: {decision.reason}")
        return decision

    def _advance(self, ctx: Context, n: int, decider: LoopDecider, outcome: IterationOutcome, decision: Decision) -> None:
        state, report, agent = self._state, outcome.verification, outcome.agent
        state.trail.append(IterationRecord(
            iteration=n,
            commit=outcome.snapshot.commit,
            levels_passed=[level.level for level in report.levels if level.passed] if report else [],
            highest_level=report.highest_passing if report else None,
            verified=bool(report and report.passed),
            ci_passed=outcome.ci.passed if outcome.ci else None,
            changed=outcome.snapshot.changed,
            action=decision.action,
            reason=truncate(decision.reason, REASON_LIMIT) or "",
            duration_seconds=agent.duration_seconds or 0.0,
            tokens=agent.input_tokens + agent.output_tokens,
            cost_usd=agent.cost_usd,
            error=truncate(agent.error, REASON_LIMIT) if not agent.success else None,
            host=outcome.host,
        ))
        state.iteration, state.commit, state.last, state.last_reason = n, outcome.snapshot.commit, outcome, decision.reason
        state.branch_exists = state.branch_exists or outcome.snapshot.commit != ctx.base_commit
        state.session_id = agent.session_id if self._cfg.context == "resume" else None
        state.strategy_state = decider.get_state()
        self.logger.info("loop iteration %d: %s (%s)", n, decision.action, decision.reason)

    async def _ask(self, ctx: Context, decision: Decision) -> Decision:
        """on_fail=ask: a person retries (more iterations), accepts the partial result, or lets it fail."""
        cfg, state = self._cfg, self._state
        state.asked += 1
        answer = await ctx.ask(
            f"The loop failed after iteration {state.iteration}: {decision.reason}. retry: {cfg.retry_iterations} more iterations; "
            f"accept: keep {state.commit[:12]} as a partial result; fail: end the loop as failed.",
            choices=["retry", "accept", "fail"],
            default="fail" if cfg.ask_timeout else None,
            timeout=cfg.ask_timeout or None,
            key=f"on-fail/{state.asked}",
        )
        who = f"{answer.by or 'a person'}" + (" (no answer in time)" if answer.timed_out else "")
        row = state.trail[-1]
        if answer.choice == "retry":
            state.extra_iterations += cfg.retry_iterations
            row.reason = truncate(f"{row.reason}; {who} chose retry: {cfg.retry_iterations} more iterations", REASON_LIMIT) or ""
            return Decision.go_on(row.reason)
        if answer.choice == "accept":
            row.action, row.reason = "complete", truncate(f"{row.reason}; {who} accepted the partial result", REASON_LIMIT) or ""
            return Decision.stop("complete", row.reason, partial=True, accepted_by=answer.by)
        row.reason = truncate(f"{row.reason}; {who} chose fail", REASON_LIMIT) or ""
        return Decision.stop("fail", row.reason, **decision.metadata)

    # -- the end ----------------------------------------------------------------------------

    async def _finish(self, ctx: Context) -> CommitStats:
        """Remove the loop's workspace on its host; what the loop changed since the base, as its
        host measured it (nothing, when the host is gone)."""
        state = self._state
        if state.host_queue is None:
            return CommitStats()
        try:
            return await workflow.execute_activity(
                "finish_loop", args=[ctx.run_id, LOOP_KEY, ctx.base_commit, state.commit], result_type=CommitStats,
                task_queue=state.host_queue, schedule_to_start_timeout=timedelta(seconds=min(self._cfg.host_timeout, 60)),
                start_to_close_timeout=timedelta(seconds=120), retry_policy=INFRA_RETRY, summary="remove the loop's workspace",
            )
        except ActivityError as e:
            workflow.logger.warning("the loop's workspace could not be removed on %s: %s", state.host_queue, e.cause or e)
            return CommitStats()

    def _result(self, ctx: Context, branch: str, decision: Decision, stats: CommitStats) -> InstanceResult:
        state = self._state
        last = state.last.agent if state.last else InstanceResult(success=False)
        totals = ctx.totals()
        # A loop a person stopped succeeded only if its last iteration passed verification.
        ok = decision.action == "complete" or (decision.action == "stopped" and bool(state.trail) and state.trail[-1].verified)
        return InstanceResult(
            success=ok,
            status="success" if ok else "stopped" if decision.action == "stopped" else "timeout" if decision.action == "timeout" else "failed",
            error=None if ok else decision.reason,
            error_type=None if ok else decision.action,
            key=LOOP_KEY,
            branch_name=branch if state.branch_exists else None,
            commit=state.commit,
            base_commit=ctx.base_commit,
            has_changes=state.commit != ctx.base_commit,
            commit_statistics=stats,
            files_changed=stats.files_changed, insertions=stats.insertions, deletions=stats.deletions,
            final_message=last.final_message, final_message_path=last.final_message_path, session_id=last.session_id,
            plugin=last.plugin, model=last.model,
            duration_seconds=round((workflow.now() - ctx.started_at).total_seconds(), 3),
            input_tokens=totals.input_tokens, output_tokens=totals.output_tokens, cost_usd=totals.cost_usd, cost_estimated=totals.cost_estimated,
            loop=LoopSummary(mode=self._cfg.mode, action=decision.action, partial=decision.partial, iterations=state.iteration,
                             decision=decision.model_dump(mode="json"), trail=list(state.trail)),
            selection=Selection(reason=decision.reason),
        )

    # -- steering (Temporal updates: validator, then handler) ----------------------------------

    _early: list[SteerRequest] = []
    """Steers asked before this run of the chain had read its state (just after continuing as new):
    applied once it has."""

    def check_steer(self, request: SteerRequest) -> None:
        state = getattr(self, "_state", None)
        if request.action == "stop":
            asked = state.stop_by if state is not None else next((r.by for r in self._early if r.action == "stop"), None)
            if asked is not None:
                raise SteerRefused(f"the loop was already asked to stop (by {asked or 'someone'})")
        elif request.action == "nudge":
            if not request.text.strip():
                raise SteerRefused("a nudge needs text: orchard loop nudge RUN \"TEXT\"")
            if len(request.text) > 20_000:
                raise SteerRefused(f"a nudge holds at most 20,000 characters (got {len(request.text):,})")
        elif request.action == "extend":
            if request.count < 1:
                raise SteerRefused(f"extend by 1 or more iterations (got {request.count})")
            if state is None:
                return  # its bound is checked when it is applied
            allowed = self._max_iterations(self._decider)
            if allowed + request.count > MAX_LOOP_ITERATIONS:
                raise SteerRefused(f"a loop runs at most {MAX_LOOP_ITERATIONS} iterations; this one may run {allowed} already")
        else:
            raise SteerRefused(f"a loop takes stop, nudge or extend, not {request.action!r}")

    def steer(self, request: SteerRequest) -> str:
        state = getattr(self, "_state", None)
        if state is None:
            self._early = [*self._early, request]
            return f"the loop takes the {request.action} as soon as it has started"
        following = state.iteration + (2 if self._running else 1)
        if request.action == "stop":
            state.stop_by = request.by
            return f"the loop stops after iteration {self._running or state.iteration + 1}"
        if request.action == "nudge":
            state.nudges.append(Nudge(text=request.text, by=request.by))
            return f"added to iteration {following}'s prompt"
        state.extra_iterations += request.count
        return f"the loop may run {request.count} more iteration{'s' if request.count != 1 else ''} ({state.iteration} done)"
