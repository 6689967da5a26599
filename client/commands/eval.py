"""`orchard eval TASKS_DIR --strategy best-of-n -S n=5 -S select=score,tests,tournament`: how often
each selection method picks a candidate that passes a hidden check.

Each task (client/evals/tasks.py) gets a repository of its own in the evaluation's folder (never
the user's), made from the task's files; one best-of-n run on it makes the candidates once and
lets every method pick among them (`-S compare=`); each candidate's commit is then checked by the
task's hidden command in a fresh checkout (client/evals/checks.py). The figures
(client/evals/report.py) print as a table or JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from client import run_steps as step
from client.commands.run import param_pair
from client.errors import EXIT_PARTIAL, EXIT_SUCCESS, UsageError
from client.evals.checks import CheckOutcome, check_commit, sandbox_available
from client.evals.methods import DEFAULT, compare_param, parse_methods
from client.evals.report import CandidateCheck, EvalReport, TaskReport, build_report, failed_task, task_report
from client.evals.table import print_report
from client.evals.tasks import BASE_BRANCH, EvalTask, load_tasks, make_repository
from client.follow import follow
from client.request import AgentFlags, GivenCredentials, PromptSource, RunRequest, ServerFlags
from client.snapshots import Outcome, Snapshot
from workflows.sdk.models import InstanceResult, RunResult

CHECKS_AT_ONCE = max(1, (os.cpu_count() or 1))
"""Hidden checks running at once (each a test run: one per core)."""
OWN_PARAMS = ("compare",)
"""best-of-n settings the evaluation sets itself (from `select`)."""


async def cmd_eval(args: argparse.Namespace) -> int:
    tasks = load_tasks(Path(args.tasks_dir), args.task or None)
    pairs = [param_pair(p) for p in args.params]
    given = dict(pairs)
    for own in OWN_PARAMS:
        if own in given:
            raise UsageError(f"-S {own}: orchard eval sets it from -S select (the methods to compare, e.g. -S select=score,tests,tournament)")
    methods = parse_methods(given.get("select", DEFAULT))
    n = _number(given.get("n"))
    params = (*((k, v) for k, v in pairs if k != "select"), ("compare", compare_param(methods)))
    if args.check_timeout <= 0:
        raise UsageError(f"--check-timeout {args.check_timeout:g}: give a number of seconds above 0")
    sandboxed = _check_runner(args.check_runner)  # after every check of the input: it may print a warning
    workdir, kept = _workdir(args.workdir)
    started = time.monotonic()
    reports: list[TaskReport] = []
    try:
        for task in tasks:  # every repository first: a task whose setup.sh fails stops the evaluation before any run
            make_repository(task, workdir / task.name / "repo")
        for i, task in enumerate(tasks, 1):
            label = f"orchard eval: task {i}/{len(tasks)} {task.name}"
            reports.append(await _evaluate(task, workdir / task.name, _request(args, params), methods, args.check_timeout, sandboxed, kept, label))
    except Exception:
        if not reports:  # refused before any run ended (a setting the run's steps refuse, a setup.sh that fails): nothing is left
            _empty(workdir)
        raise
    except (asyncio.CancelledError, KeyboardInterrupt):  # Ctrl-C: a run going on still needs its task's repository
        kept = True
        print(f"orchard eval: interrupted; the tasks' repositories are kept in {workdir}", file=sys.stderr)
        raise
    finally:
        if not kept:
            shutil.rmtree(workdir, ignore_errors=True)
    report = build_report(args.strategy, n or max((len(t.candidates) for t in reports), default=None), methods, reports)
    print(f"orchard eval: {len(tasks)} task{'s' if len(tasks) != 1 else ''} in {time.monotonic() - started:.0f}s"
          + (f"; repositories and checks kept in {workdir}" if kept else ""), file=sys.stderr)
    _print(report, args.output)
    return EXIT_PARTIAL if any(t.error for t in reports) else EXIT_SUCCESS


def _number(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # best-of-n says what is wrong with it when the run starts


def _check_runner(choice: str) -> bool:
    """Whether the hidden checks run in a sandbox: `auto` where bubblewrap works (saying so when not)."""
    problem = sandbox_available()
    if choice == "sandbox" and problem:
        raise UsageError(f"--check-runner sandbox: {problem}")
    if choice == "auto" and problem:
        print(f"orchard eval: the hidden checks run the candidates' code as local processes, NOT isolated, because {problem}", file=sys.stderr)
    return choice != "local" and problem is None


def _workdir(given: str | None) -> tuple[Path, bool]:
    """The evaluation's folder (the tasks' repositories, the checks' checkouts): --workdir, kept; else
    a new temporary folder, removed at the end."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="orchard-eval-")), False
    path = Path(given).resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"--workdir {given}: it exists and is not an empty folder; give a new one")
    path.mkdir(parents=True, exist_ok=True)
    return path, True


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _request(args: argparse.Namespace, params: tuple[tuple[str, str], ...]) -> RunRequest:
    agent = AgentFlags(model=args.model, plugin=args.plugin, agent_command=args.agent_command, timeout=args.timeout, max_turns=args.max_turns,
                       runner=args.runner, network_egress=args.network_egress, env=tuple(args.env))
    return RunRequest(
        prompt=PromptSource("argument"), strategy=args.strategy, params=params, agent=agent, base_branch=BASE_BRANCH, max_parallel=args.max_parallel,
        credentials=GivenCredentials(args.api_key, args.oauth_token, args.base_url),
        server=ServerFlags(args.address, args.namespace, None, None, args.config, False), output="quiet",
    )


async def _evaluate(task: EvalTask, folder: Path, request: RunRequest, methods: list[str], timeout: float, sandboxed: bool, kept: bool,
                    label: str) -> TaskReport:
    repo = folder / "repo"
    request = dataclasses.replace(request, prompt=PromptSource("argument", text=task.prompt), repo=str(repo))
    outcome = await _run(request, label)
    if outcome.result is None or not outcome.result.instances:
        return failed_task(task.name, task.title, methods, outcome.error or f"the run ended {outcome.status} with no candidates", outcome.run_id)
    at_once = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def check(number: int, c: InstanceResult) -> CandidateCheck:
        async with at_once:
            return await _check(task, repo, c, folder / "checks" / f"candidate-{number}", timeout, sandboxed)

    checks = list(await asyncio.gather(*(check(number, c) for number, c in _candidates(outcome.result))))
    report = task_report(task.name, task.title, methods, outcome.result, checks)
    if kept:
        report.repository = str(repo)
    return report


async def _run(request: RunRequest, label: str) -> Outcome:
    """The run's steps as `orchard run` takes them (client/commands/run.py), followed to the end, silently:
    `label` said once the run's settings are checked."""
    plan = await step.planned(request)
    print(label, file=sys.stderr, flush=True)
    runner = await step.runner(plan.configuration)
    async with step.serve(request, plan.configuration, plan.chosen, runner) as served:
        handles = await step.start(request, plan.chosen, plan.run_input, served)
        return await follow(served.target.client, handles[0].id, _Silent())


class _Silent:
    """A renderer that draws nothing: the evaluation says one line per task."""

    def update(self, snapshot: Snapshot) -> None:
        pass

    def finish(self, outcome: Outcome) -> None:
        pass


def _candidates(result: RunResult) -> list[tuple[int, InstanceResult]]:
    """The run's candidates by number (its selection agents and a synthesis are not candidates)."""
    found: dict[int, InstanceResult] = {}
    for r in result.instances:
        number = r.selection.candidate if r.selection else None
        if number is not None and r.key.startswith("candidate/"):
            found.setdefault(number, r)
    return sorted(found.items())


async def _check(task: EvalTask, repo: Path, c: InstanceResult, folder: Path, timeout: float, sandboxed: bool) -> CandidateCheck:
    number = c.selection.candidate if c.selection and c.selection.candidate else 0
    outcome = CheckOutcome(False, c.error or "no changes") if not (c.commit and c.has_changes) else await check_commit(
        task, repo, c.commit, folder, timeout, sandboxed)
    return CandidateCheck(candidate=number, branch=c.branch_name, commit=c.commit, passed=outcome.passed, detail=outcome.detail, cost_usd=c.cost_usd,
                          cost_estimated=c.cost_estimated)


def _print(report: EvalReport, output: str) -> None:
    if output == "json":
        print(report.model_dump_json(indent=2))
    else:
        print_report(report)
