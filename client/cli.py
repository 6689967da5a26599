"""The `orchard` command: parses the command line and dispatches to client/commands/.

Exit codes: 0 success, 1 failure, 2 bad usage or input, 3 completed with failed instances,
4 canceled, 130 detached by Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import logging
import os
import sys
import traceback
import typing
from collections.abc import Callable
from typing import Any, NoReturn

from activities.agents import PLUGINS
from activities.runners.docker import DEFAULT_IMAGE
from client.commands.listing import LIST_STATUSES
from client.embedded import early_server
from client.errors import DETACHED_EXIT, EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE, UsageError, environment_problem
from client.options import connection_args, credential_args, keep_waiting_arg, run_options, runbook_run_arguments
from client.render import OUTPUT_MODES
from orchard_common.config import RUNBOOKS_DIR
from workflows.sdk.models import NetworkEgress, RunnerName
from workflows.strategies import BUILTIN_STRATEGIES


def _command(name: str) -> Callable[[argparse.Namespace], Any]:
    """`cmd_<name>` of client/commands/, imported only when it runs: a command loads what it needs
    and no more (`orchard run` does not import the runbook language)."""
    module = {"list": "listing"}.get(name, name)
    return getattr(importlib.import_module(f"client.commands.{module}"), f"cmd_{name}")


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (exit 2). Imported after the fact: whichever was raised
    has its module loaded already, and the others cost little to import then."""
    from client.embedded.dev_settings import DevServerError
    from client.runs import NoWorker
    from orchard_common.config import ConfigFileError
    from orchard_common.strategy_loader import StrategyLoadError
    from workflows.sdk.errors import ConfigError

    return UsageError, ConfigError, StrategyLoadError, ConfigFileError, NoWorker, DevServerError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"orchard: {message} (see `{self.prog} --help`)\n")


def _run_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    run = sub.add_parser("run", help="run a strategy on a prompt", description=(
        "Run agents by a strategy, each on its own branch orchard/<strategy>/<run_id>/k<hash>. "
        "By default each agent runs in a sandbox where bubblewrap works (--runner sandbox: only its workspace and its own home "
        "writable); with --runner docker in its own hardened container; the local runner is NOT "
        "isolated: agents run as processes with your user's rights, in a workspace beside your repository."))
    run.add_argument("prompt", nargs="?", help="the task for the agents; - reads it from stdin")
    run.add_argument("--prompt-file", metavar="FILE",
                     help="read the task from FILE (any size: a long one goes to the agents by reference, not in the run's history)")
    run.add_argument("--strategy", default="simple", help=f"built-in name ({', '.join(BUILTIN_STRATEGIES)}), path.py[:Class] or module[:Class]")
    run.add_argument("-S", dest="params", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter (repeatable); JSON values are parsed")
    run_options(run)


def _eval_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    ev = sub.add_parser("eval", help="measure how often each selection method picks a candidate that passes a hidden check", description=(
        "Run best-of-n on every task of TASKS_DIR (each in a repository of its own, outside yours) and compare selection methods on the same "
        "candidates: for every task and method, pass@1 (candidate 1 passes the task's hidden check), pass@n (some candidate passes), "
        "selected (the method's pick passes) and cost. A task is a folder: task.toml (check = \"COMMAND\", the hidden check), prompt.md, "
        "repo/ or setup.sh (the repository), hidden/ (files only the check sees). See docs/evaluation.md."))
    ev.add_argument("tasks_dir", metavar="TASKS_DIR", help="a folder of task folders (or one task folder)")
    ev.add_argument("--strategy", default="best-of-n", help="the strategy each task runs (best-of-n, or a strategy file that takes its compare setting)")
    ev.add_argument("-S", dest="params", action="append", default=[], metavar="KEY=VALUE",
                    help="strategy parameter (repeatable); select=METHOD,METHOD,... lists the methods to compare (score, tests, tournament; "
                         "a combination joined by +: tests+tournament), default score")
    ev.add_argument("--task", action="append", default=[], metavar="NAME", help="only this task (repeatable; default: every task of TASKS_DIR)")
    ev.add_argument("--output", choices=["table", "json"], default="table")
    ev.add_argument("--workdir", metavar="DIR",
                    help="keep the tasks' repositories (with the candidates' branches) and the checks' checkouts and logs in DIR, a new or empty "
                         "folder (default: a temporary folder, removed at the end)")
    ev.add_argument("--check-runner", choices=["auto", "sandbox", "local"], default="auto",
                    help="where the hidden check runs each candidate's code: in a bubblewrap sandbox without network (auto: where bubblewrap "
                         "works) or as a local process, NOT isolated")
    ev.add_argument("--check-timeout", type=float, default=600.0, metavar="SECONDS", help="seconds a hidden check may run (default 600)")
    agents = ev.add_argument_group("the agents (as for `orchard run`)")
    agents.add_argument("--plugin", choices=sorted(PLUGINS), help="agent plugin")
    agents.add_argument("--model", help="model for the agents")
    agents.add_argument("--agent-command", help="command line of the agent for --plugin command")
    agents.add_argument("--timeout", type=float, help="seconds an agent may run")
    agents.add_argument("--max-turns", type=int, help="agent turn limit, for plugins that have one")
    agents.add_argument("--runner", choices=typing.get_args(RunnerName), help="where agents run (default auto, as for `orchard run`)")
    agents.add_argument("--network-egress", choices=typing.get_args(NetworkEgress), help="sandbox and docker runner network")
    agents.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]", help="a variable for the agents (repeatable)")
    agents.add_argument("--max-parallel", type=int, help="instances running at once in each task's run")
    credential_args(ev)
    connection_args(ev)


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser, built once per process (11 ms): the warm client builds it before it forks
    each command's process, which then only parses."""
    parser = _Parser(prog="orchard", description="Durable strategies for AI coding agents, on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _run_parser(sub)
    _eval_parser(sub)

    watch = sub.add_parser("watch", help="follow a run until it ends; exits with the run's exit code")
    watch.add_argument("run_id")
    watch.add_argument("--output", choices=OUTPUT_MODES)
    keep_waiting_arg(watch)
    credential_args(watch)
    connection_args(watch)

    show = sub.add_parser("show", help="show a run's status and results")
    show.add_argument("run_id", nargs="?")
    show.add_argument("--experiment", metavar="NAME", help="instead of a run: which run of a round-robin experiment used which variant")
    show.add_argument("--repo", default=".", help="the experiment's repository (default: the current directory)")
    show.add_argument("--output", choices=OUTPUT_MODES)
    connection_args(show)

    cancel = sub.add_parser("cancel", help="cancel a run: agents stop, workspaces are removed")
    cancel.add_argument("run_id")
    connection_args(cancel)

    ls = sub.add_parser("list", help="list runs (from Temporal visibility)")
    ls.add_argument("--strategy")
    ls.add_argument("--repo", help="only runs on this repository (a path, or a remote's URL)")
    ls.add_argument("--pipeline", metavar="RUNBOOK.PIPELINE", help="only runs of this runbook pipeline (or RUNBOOK.worker.NAME: that queue worker)")
    ls.add_argument("--status", choices=LIST_STATUSES)
    ls.add_argument("--waiting", action="store_true", help="only runs that wait for a person (see `orchard pending`)")
    ls.add_argument("--children", action="store_true", help="also the runs of child strategies (ctx.run_strategy)")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--output", choices=["table", "json"], default="table")
    connection_args(ls)

    pend = sub.add_parser("pending", help="list every question that runs wait for a person to answer")
    pend.add_argument("--output", choices=["table", "json"], default="table")
    connection_args(pend)

    ans = sub.add_parser("answer", help="answer a run that waits for a person (the answer and who gave it are recorded)")
    ans.add_argument("run_id")
    ans.add_argument("choice", help="one of the choices the question offers (see `orchard pending`)")
    ans.add_argument("--note", help="a note kept with the answer")
    ans.add_argument("--question", metavar="KEY", help="which question, when the run waits for several")
    connection_args(ans)

    loop = sub.add_parser("loop", help="steer a running loop: stop after this iteration, nudge the next prompt, extend by N iterations")
    steer = loop.add_subparsers(dest="loop_action", required=True, parser_class=_Parser)
    stop = steer.add_parser("stop", help="finish after the iteration that runs now (reason: stopped by a person)")
    stop.add_argument("run_id")
    nudge = steer.add_parser("nudge", help="add TEXT to the next iteration's prompt")
    nudge.add_argument("run_id")
    nudge.add_argument("text")
    extend = steer.add_parser("extend", help="allow N more iterations")
    extend.add_argument("run_id")
    extend.add_argument("count", type=int, metavar="N")
    for p in (stop, nudge, extend):
        connection_args(p)

    _budget_parser(sub)
    _runbook_parser(sub)

    hist = sub.add_parser("history", help="export a run's Temporal event history as JSON")
    hist.add_argument("run_id")
    hist.add_argument("-o", "--out", help="file to write (default: stdout); an existing file is not overwritten without --force")
    hist.add_argument("--force", action="store_true")
    connection_args(hist)

    rep = sub.add_parser("replay", help="replay a history against the current strategy code; non-zero exit on nondeterminism")
    rep.add_argument("source", help="a history JSON file (from `orchard history`) or a run id")
    rep.add_argument("--strategy", help="strategy spec to replay against (default: the built-in named in the history)")
    connection_args(rep)

    cln = sub.add_parser("clean", help="remove containers, workspaces and agent homes that ended runs left on this host, and base and queue "
                                       "checkouts no run uses")
    cln.add_argument("run_id", nargs="?", help="only this run (it must not be running); default: every run that is not running")
    connection_args(cln)

    _landing_parsers(sub)

    doc = sub.add_parser("doctor", help="check Temporal, Docker and the agent image, the agent CLIs, credentials and disk; say the base grace and "
                                        "the bases kept")
    doc.add_argument("--docker-image", help=f"agent image to check (default: runner.docker_image or {DEFAULT_IMAGE})")
    doc.add_argument("--output", choices=["table", "json"], default="table")
    connection_args(doc)

    srv = sub.add_parser("server", help="run the dev server from temporal-dev.yml in the foreground; `server stop` stops the embedded one")
    srv.add_argument("action", nargs="?", choices=["start", "stop", "status"], default="start")
    return parser


def _landing_parsers(sub: argparse._SubParsersAction[_Parser]) -> None:
    """From a finished run's candidates to a landed change: diff, land, pr, prune (docs/landing.md)."""
    diff = sub.add_parser("diff", help="a finished run's candidates side by side, then each one's diff against the base (or between two)",
                          description="Candidates side by side (files changed, +/-, verification, score or checks passed, agent and model), then "
                                      "each candidate's diff against the run's base, or with K K2 the diff between two candidates, through git's pager.")
    diff.add_argument("run_id")
    diff.add_argument("candidates", nargs="*", metavar="K", help="a candidate (its number, key or branch); two: the diff between them")
    diff.add_argument("--stat", action="store_true", help="files and +/- only, no patch")
    diff.add_argument("--output", choices=["text", "json"], default="text")
    connection_args(diff)

    land = sub.add_parser("land", help="land a finished run's candidate on a branch (compare-and-swap; a checked-out branch only when clean)",
                          description="The candidate (default: the winner, or the run's only branch) lands on BRANCH (default: the run's base "
                                      "branch). A branch checked out nowhere is updated by compare-and-swap without touching any working tree; a "
                                      "checked-out one only when its working tree and index are clean, by a fast-forward in that checkout, never a "
                                      "reset. A conflict, a protected branch without --allow-protected, or a branch that moved meanwhile changes nothing.")
    land.add_argument("run_id")
    land.add_argument("--candidate", metavar="K", help="which candidate (its number, key or branch; default: the winner)")
    land.add_argument("--onto", metavar="BRANCH", help="the branch to land on (default: the run's base branch)")
    land.add_argument("--how", choices=["merge", "squash", "rebase"], default="merge", help="merge (a fast-forward when it can be; default), squash or rebase")
    land.add_argument("--allow-protected", action="store_true", help="allow landing on a protected branch (main, master, release/...)")
    connection_args(land)

    pr = sub.add_parser("pr", help="push a finished run's candidate branch and open a pull request with the GitHub CLI (gh)")
    pr.add_argument("run_id")
    pr.add_argument("--candidate", metavar="K", help="which candidate (default: the winner)")
    pr.add_argument("--remote", default="origin", help="the remote to push to (default: origin)")
    connection_args(pr)

    prune = sub.add_parser("prune", help="remove the orchard/ branches, prompts, mirrors and leftovers of runs that are over (a dry run without --yes)",
                           description="Removes the orchard/ branches of runs that are over, the prompts they kept by reference, this host's mirrors "
                                       "of remotes no running run uses, and what those runs left on this host (as `orchard clean`). Never a branch "
                                       "outside orchard/, one checked out, or one of a running run. A dry run unless --yes.")
    prune.add_argument("run_ids", nargs="*", metavar="RUN", help="only these runs (default: every run on the repository that is over)")
    prune.add_argument("--older-than", metavar="DURATION", help="only runs that ended longer ago than this (7d, 12h, ...)")
    prune.add_argument("--keep-landed", action="store_true", help="keep the branches of runs that landed (orchard land)")
    prune.add_argument("--yes", action="store_true", help="remove it (without: say what would go)")
    prune.add_argument("--repo", default=".", help="the repository (default: the current directory)")
    connection_args(prune)


def _runbook_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    book = sub.add_parser("runbook", help="TOML runbooks (runbooks/*.toml): validate, list, show, render (a dry run), run a pipeline, queue "
                                          "items and workers, events")
    actions = book.add_subparsers(dest="runbook_action", metavar="{validate,list,show,render,items,run,worker,cron,emit}", required=True,
                                  parser_class=type(book))

    def folder_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--runbooks", metavar="DIR",
                       help=f"the runbooks' folder (default: runbooks: in orchard.yaml, else {RUNBOOKS_DIR}/ at the repository's root)")
        p.add_argument("--config", help="orchard.yaml to use (default: orchard.yaml at the repository root)")

    validate = actions.add_parser("validate", help="every problem of the runbooks at once (exit 2), or one line per valid runbook")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="runbook files or folders (default: the runbooks' folder)")
    ls = actions.add_parser("list", help="commands, pipelines, strategies, workers, queues, crons and monitors, per runbook")
    ls.add_argument("--output", choices=["table", "json"], default="table")
    show = actions.add_parser("show", help="a pipeline's graph: phases, actions, guards, locks, semaphores, next and on_fail")
    show.add_argument("name", metavar="RUNBOOK.PIPELINE")
    render = actions.add_parser("render", help="what each phase of a pipeline would run, rendered with the inputs (runs nothing)")
    render.add_argument("name", metavar="RUNBOOK.PIPELINE")
    render.add_argument("-i", dest="inputs", action="append", default=[], metavar="NAME=VALUE", help="an input (repeatable); a JSON object or list is parsed")
    items = actions.add_parser("items", help="run a queue's source and print the items a worker would take, filtered and in order (JSON lines)")
    items.add_argument("name", metavar="RUNBOOK.QUEUE")
    run = actions.add_parser(
        "run", help="run a pipeline: a runbook's command with its words, or RUNBOOK.PIPELINE with -i inputs",
        description="Run a runbook's pipeline as a Temporal workflow, on its own branch orchard/runbook/<pipeline>/<run_id>. "
                    "Orchard's options go before or after NAME (`orchard runbook run build auth \"Add auth\" --reviewer alice "
                    "--plugin claude-code`); after a command's name, an option its args define is the command's, and a -- "
                    "ends Orchard's options (what follows it is the command's). The agent options are "
                    "the defaults of the runbook's tasks; a task's own run, plugin, model and timeout win.")
    run.add_argument("name", metavar="NAME", help="a command (COMMAND, or RUNBOOK.command.COMMAND) or a pipeline (RUNBOOK.PIPELINE)")
    run.add_argument("words", nargs=argparse.REMAINDER, help="the command's words and options, as its args say, and Orchard's options")
    runbook_run_arguments(run)
    worker = actions.add_parser("worker", help="a runbook's queue worker: start it (it runs until stopped), stop it, or its status")
    worker_actions = worker.add_subparsers(dest="worker_action", metavar="{start,stop,status}", required=True, parser_class=type(book))
    start = worker_actions.add_parser("start", help="start the worker (detached): it polls its queue and runs its handler for each new item",
                                      description="Orchard's options (as for `orchard runbook run`) are the defaults of the handler's tasks.")
    start.add_argument("name", metavar="RUNBOOK.WORKER")
    run_options(start)
    start.add_argument("--runbooks", metavar="DIR", help="the runbooks' folder")
    for action in ("stop", "status"):
        said = "let its running items finish, then end it" if action == "stop" else "its items: done, running, failed, dead"
        sub_parser = worker_actions.add_parser(action, help=said)
        sub_parser.add_argument("name", metavar="RUNBOOK.WORKER")
        sub_parser.add_argument("--repo", default=".", help="the repository the worker runs on (default: here)")
        sub_parser.add_argument("--remote", metavar="NAME", help="the worker runs on this remote of the repository (as it was started with --remote NAME)")
        sub_parser.add_argument("--address", help="use this Temporal server (HOST:PORT)")
        sub_parser.add_argument("--namespace", help="Temporal namespace")
        folder_args(sub_parser)
    _cron_parser(actions, folder_args, type(book))
    emit = actions.add_parser("emit", help="send an event (bug:created) to the runs on this repository whose guards or workers wait for it")
    emit.add_argument("event", metavar="EVENT")
    emit.add_argument("--repo", default=".", help="the repository (default: here)")
    emit.add_argument("--address", help="use this Temporal server (HOST:PORT)")
    emit.add_argument("--namespace", help="Temporal namespace")
    emit.add_argument("--config", help="orchard.yaml to use")
    for p in (validate, ls, show, render, items):
        folder_args(p)


def _cron_parser(actions: argparse._SubParsersAction[_Parser], folder_args: Callable[[argparse.ArgumentParser], None], parser_class: type[_Parser]) -> None:
    """`orchard runbook cron`: a runbook's [cron.NAME] as a Temporal Schedule on this repository."""
    cron = actions.add_parser("cron", help="a runbook's cron as a Temporal Schedule: start it, list, pause, unpause, trigger or stop it",
                              description="A [cron.NAME] runs its monitors every interval as a Temporal Schedule on this repository: it "
                                          "survives restarts and shows under Schedules in the Temporal UI.")
    cron_actions = cron.add_subparsers(dest="cron_action", metavar="{start,list,pause,unpause,trigger,stop}", required=True, parser_class=parser_class)
    start = cron_actions.add_parser("start", help="make (or update) the cron's schedule: a run every interval; enabled = false makes it paused",
                                    description="Orchard's options (as for `orchard runbook run`) say which server and worker serve its runs.")
    start.add_argument("name", metavar="RUNBOOK.CRON")
    run_options(start)
    start.add_argument("--runbooks", metavar="DIR", help="the runbooks' folder")
    said = {"list": "every cron of the runbooks: its schedule's state, next and last run", "pause": "pause the schedule (no runs until unpaused)",
            "unpause": "unpause the schedule", "trigger": "start a run now (also of a paused schedule)",
            "stop": "delete the schedule (a run going on finishes)"}
    for action, help_text in said.items():
        sub_parser = cron_actions.add_parser(action, help=help_text)
        if action != "list":
            sub_parser.add_argument("name", metavar="RUNBOOK.CRON")
        else:
            sub_parser.add_argument("--output", choices=["table", "json"], default="table")
        if action in ("pause", "unpause"):
            sub_parser.add_argument("--note", help="why, as the schedule shows it (default: who did it)")
        sub_parser.add_argument("--repo", default=".", help="the repository the cron runs on (default: here)")
        sub_parser.add_argument("--remote", metavar="NAME", help="the cron runs on this remote of the repository (as it was started with --remote NAME)")
        sub_parser.add_argument("--address", help="use this Temporal server (HOST:PORT)")
        sub_parser.add_argument("--namespace", help="Temporal namespace")
        folder_args(sub_parser)


def _budget_parser(sub: Any) -> None:
    budget = sub.add_parser("budget", help="shared budgets: what the runs naming one (--budget NAME) may spend per day, week or month")
    actions = budget.add_subparsers(dest="budget_action", required=True, parser_class=_Parser)
    put = actions.add_parser("set", help="make a shared budget, or change its amount, period or policy")
    put.add_argument("name")
    put.add_argument("--usd", type=float, required=True, help="what its runs may spend per period, in USD")
    put.add_argument("--per", choices=["day", "week", "month"], default="day", help="the period (calendar, UTC; default day)")
    put.add_argument("--policy", choices=["wait", "fail"], default="wait",
                     help="past the budget a new instance waits until the period turns (default) or fails")
    show = actions.add_parser("show", help="a shared budget: its amount, this period's spend and its running instances', when the period turns")
    show.add_argument("name")
    listed = actions.add_parser("list", help="every shared budget")
    delete = actions.add_parser("delete", help="delete a shared budget (refused while running instances hold reservations on it)")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="delete it although running instances hold reservations (they go on, unlimited by it)")
    for p in (put, show, listed, delete):
        p.add_argument("--output", choices=["table", "json"], default="table")
        p.add_argument("--task-queue", help="the task queue of the workers that keep it (default: orchard.yaml's, else orchard)")
        connection_args(p)


def _glue_passthrough(argv: list[str]) -> list[str]:
    """`--cli-arg --verbose` means the token `--verbose`, not an option of ours."""
    glued: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token in ("--cli-arg", "--cli-args"):
            value = next(tokens, None)
            glued.append(token if value is None else f"{token}={value}")
        else:
            glued.append(token)
    return glued


def _exit_status(e: SystemExit) -> int:
    """The exit code Python gives a process that a SystemExit ends (its message, if any, said on stderr)."""
    if e.code is None or isinstance(e.code, int):
        return e.code or EXIT_SUCCESS
    print(e.code, file=sys.stderr)
    return EXIT_FAILURE


def _stdout_closed() -> int:
    """Whoever read stdout has gone (`orchard show RUN | head -1`): the command ends quietly, as a
    CLI does when its reader closes the pipe. What is still buffered goes to /dev/null, so the
    last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_SUCCESS


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(_glue_passthrough(sys.argv[1:] if argv is None else argv))
        command = _command(args.command)
        return command(args) if args.command == "server" else asyncio.run(command(args))
    except SystemExit as e:  # --help (0) and usage errors (2) from the parser, said already
        return _exit_status(e)
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print("\norchard: interrupted; a run already started goes on (see `orchard list --status running`)", file=sys.stderr)
        return DETACHED_EXIT
    except Exception as e:
        from temporalio.service import RPCError

        from orchard_common.connection import ServerUnreachable

        if isinstance(e, _usage_errors()):
            print(f"orchard: {e}", file=sys.stderr)
        elif isinstance(e, ServerUnreachable):
            print(f"orchard: {e}; check --address / TEMPORAL_ADDRESS, or drop them to use the embedded server", file=sys.stderr)
        elif isinstance(e, (OSError, RPCError)):
            print(f"orchard: {environment_problem(e)}", file=sys.stderr)
        else:
            raise
        return EXIT_USAGE


def quiet_sdk_logs() -> None:
    """The command speaks for itself in one line per problem: the SDK's own log lines (a worker
    inside `orchard run --with-worker` logging a failing strategy's traceback on stdout, a client
    retrying a connection) are for a worker's log, not for the user's terminal."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))))
    logging.getLogger("temporalio").setLevel(logging.ERROR)


def entrypoint(start_warm: bool = False) -> NoReturn:
    """The command, run in this process. Exits without interpreter finalization: the Temporal
    client's native threads can abort a finalizing interpreter (PyGILState_Release), turning a
    clean exit into 134. `start_warm` (the launcher says so when the embedded server ran already
    as this command started, so this is not the first command on it): afterwards, start the
    server's warm client for the commands after this one (client/launcher.py). A single command
    starts no extra process. A command whose run took the spare worker starts the next one as it ends."""
    code = _run()
    for stream in (sys.stdout, sys.stderr):  # os._exit flushes nothing
        try:
            stream.flush()
        except BrokenPipeError:  # `orchard list | head`
            _stdout_closed()
        except (OSError, ValueError):
            pass
    early_server.abandon()  # a server the launcher started that this command did not take (bad input): stopped
    if start_warm:
        from client.embedded.background_workers import start_warm_client

        start_warm_client()
    else:
        from client.embedded.spare_worker import replace_claimed

        replace_claimed()  # the spare worker this command's run took, if it took it
    os._exit(code)


def _run() -> int:
    """main(), and what would escape it ended as Python ends a process: a SystemExit's code, or an
    unexpected error's traceback and exit 1. So a command ends the same in its own process and in
    a child of the warm client (client/warm.py), which must never return to its caller's loop."""
    try:
        quiet_sdk_logs()
        return main()
    except SystemExit as e:
        return _exit_status(e)
    except BaseException:  # noqa: BLE001 - anything else is a bug: its traceback, as Python would print it
        traceback.print_exc()
        return EXIT_FAILURE


if __name__ == "__main__":
    entrypoint()
