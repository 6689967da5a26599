"""The `orchard` command.

Exit codes: 0 success, 1 failure, 2 bad usage or input, 3 completed with failed instances.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import git
from pydantic import ValidationError
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.docker.engine import DEFAULT_IMAGE
from activities.docker.runner import choose_runner
from activities.paths import orchard_home
from activities.plugins import PLUGINS
from client import devserver
from client.config import ConfigFileError, OrchardConfig, load_config
from client.connection import ServerUnreachable, connect, external_target
from client.experiments import print_rotation, rotation_state, run_outcomes
from client.params import resolve_param_files
from client.render import make_console, make_renderer, outcome_json, print_outcome
from client.runs import (
    NoWorker,
    Target,
    ensure_served,
    open_target,
    start_run,
    task_queue_for,
)
from client.strategy_loader import StrategyLoadError, load_strategy, resolve_spec
from client.watch import (
    EXIT_FAILURE,
    EXIT_SUCCESS,
    EXIT_USAGE,
    Outcome,
    follow,
    outcome_of,
    query_progress,
)
from workflows.models import RunInput, RunResult, TaskDefaults, first_error
from workflows.registry import BUILTIN_STRATEGIES
from workflows.runtime import SA_OUTCOME, SA_REPO
from workflows.sdk import ConfigError

DETACHED_EXIT = 130


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"orchard: {message} (see `{self.prog} --help`)\n")


def _connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Temporal server (default: the embedded dev server under $ORCHARD_HOME)")
    g.add_argument("--address", help="use this Temporal server (HOST:PORT); TEMPORAL_ADDRESS and Temporal profiles work too")
    g.add_argument("--namespace", help="Temporal namespace")
    g.add_argument("--config", help="orchard.yaml to use (default: orchard.yaml at the repository root)")


def _credential_args(p: argparse.ArgumentParser) -> None:
    creds = p.add_argument_group(
        "credentials for the embedded worker (or --with-worker), also when `watch` restarts it; "
        "a named server's workers read their own environment"
    )
    creds.add_argument("--api-key", help="ANTHROPIC_API_KEY for claude-code, OPENAI_API_KEY for codex")
    creds.add_argument("--oauth-token", help="CLAUDE_CODE_OAUTH_TOKEN (claude-code subscription)")
    creds.add_argument("--base-url", help="ANTHROPIC_BASE_URL for claude-code; for codex, an OpenAI-compatible Responses endpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orchard", description="Durable strategies for AI coding agents, on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a strategy on a prompt", description=(
        "Run agents by a strategy, each on its own branch orchard/<strategy>/<run_id>/k<hash>. "
        "With --runner docker each agent runs in its own hardened container; the local runner is NOT "
        "isolated: agents run as processes with your user's rights, in a workspace beside your repository."))
    run.add_argument("prompt")
    run.add_argument("--strategy", default="simple", help=f"built-in name ({', '.join(BUILTIN_STRATEGIES)}), path.py[:Class] or module[:Class]")
    run.add_argument("-S", dest="params", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter (repeatable); JSON values are parsed")
    run.add_argument("--plugin", choices=sorted(PLUGINS), help="agent plugin (default: command)")
    run.add_argument("--model", help="model for the agent")
    run.add_argument("--agent-command", help="command line of the agent for --plugin command; the prompt is on stdin, in ORCHARD_PROMPT and as {prompt}")
    run.add_argument("--repo", default=".", help="git repository (default: the current directory)")
    run.add_argument("--base-branch", help="branch the agents start from (default: the checked-out branch)")
    run.add_argument("--max-parallel", type=int, help="instances running at once (default: 4 per core, at most 32)")
    run.add_argument("--timeout", type=float, help="seconds an agent may run (default 3600)")
    run.add_argument("--max-turns", type=int, help="agent turn limit, for plugins that have one")
    run.add_argument("--system-prompt", help="replace the agent's system prompt (plugins that support it)")
    run.add_argument("--append-system-prompt", help="add to the agent's system prompt")
    run.add_argument("--cli-arg", action="append", default=[], metavar="TOKEN", help="pass TOKEN to the agent CLI, before the prompt (repeatable)")
    run.add_argument("--cli-args", metavar="ARGS", help="pass these arguments (shell-split) to the agent CLI, after the --cli-arg tokens")
    runner = run.add_argument_group("where agents run")
    runner.add_argument(
        "--runner", choices=["auto", "local", "docker"],
        help="docker: a hardened container per instance; local: a process on the worker's host, NOT isolated "
        "(the agent can read and change anything the worker's user can); auto (default): docker for "
        "claude-code and codex when the engine and image are there, else local",
    )
    runner.add_argument("--docker-image", help="agent image for the docker runner (default orchard-agent:latest)")
    runner.add_argument(
        "--network-egress", choices=["online", "offline", "proxy", "host"],
        help="docker runner network: online (default), offline (none), proxy (only the model API, relayed), host",
    )
    _credential_args(run)
    run.add_argument("--import-policy", choices=["auto", "never", "always"])
    run.add_argument("--import-conflict-policy", choices=["fail", "overwrite", "suffix"])
    run.add_argument("--output", choices=["tui", "streaming", "json", "quiet"], help="default: tui on a terminal, else streaming")
    run.add_argument("--detach", action="store_true", help="start the run, print its id and return; it keeps going")
    run.add_argument("--task-queue", help="task queue of the workers to use (named server; default orchard)")
    run.add_argument("--with-worker", action="store_true", help="with a named server: also run a worker in this process")
    run.add_argument("--ui-url", help="base URL of the Temporal UI of a named server, for links")
    _connection_args(run)

    for name, help_text in (("watch", "follow a run until it ends; exits with the run's exit code"), ("show", "show a run's status and results"), ("cancel", "cancel a run: agents stop, workspaces are removed")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("run_id", nargs="?" if name == "show" else None)
        if name == "show":
            p.add_argument("--experiment", metavar="NAME", help="instead of a run: which run of a round-robin experiment used which variant")
            p.add_argument("--repo", default=".", help="the experiment's repository (default: the current directory)")
        if name != "cancel":
            p.add_argument("--output", choices=["tui", "streaming", "json", "quiet"])
        if name == "watch":
            _credential_args(p)
        _connection_args(p)

    ls = sub.add_parser("list", help="list runs (from Temporal visibility)")
    ls.add_argument("--strategy")
    ls.add_argument("--repo", help="only runs on this repository")
    ls.add_argument("--status", choices=["running", "success", "partial", "failed", "canceled", "terminated", "timed_out"])
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--output", choices=["table", "json"], default="table")
    _connection_args(ls)

    hist = sub.add_parser("history", help="export a run's Temporal event history as JSON")
    hist.add_argument("run_id")
    hist.add_argument("-o", "--out", help="file to write (default: stdout); an existing file is not overwritten without --force")
    hist.add_argument("--force", action="store_true")
    _connection_args(hist)

    rep = sub.add_parser("replay", help="replay a history against the current strategy code; non-zero exit on nondeterminism")
    rep.add_argument("source", help="a history JSON file (from `orchard history`) or a run id")
    rep.add_argument("--strategy", help="strategy spec to replay against (default: the built-in named in the history)")
    _connection_args(rep)

    cln = sub.add_parser("clean", help="remove containers, workspaces and agent homes that ended runs left on this host")
    cln.add_argument("run_id", nargs="?", help="only this run (it must not be running); default: every run that is not running")
    _connection_args(cln)

    doc = sub.add_parser("doctor", help="check Temporal, Docker and the agent image, the agent CLIs, credentials and disk")
    doc.add_argument("--docker-image", help="agent image to check (default: runner.docker_image or orchard-agent:latest)")
    doc.add_argument("--output", choices=["table", "json"], default="table")
    _connection_args(doc)

    srv = sub.add_parser("server", help="run the dev server from temporal-dev.yml in the foreground; `server stop` stops the embedded one")
    srv.add_argument("action", nargs="?", choices=["start", "stop", "status"], default="start")
    return parser


# ---------------------------------------------------------------------------------------------
# run


def _git_repo(path: str) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except git.NoSuchPathError:
        raise UsageError(f"{path} does not exist; pass --repo with a git repository") from None
    except git.InvalidGitRepositoryError:
        raise UsageError(f"{Path(path).resolve()} is not a git repository; run inside one or pass --repo PATH (create one with `git init`)") from None


def _base_branch(repo: git.Repo, requested: str | None) -> str:
    if requested is None:
        if repo.head.is_detached:
            raise UsageError("HEAD is detached; pass --base-branch NAME")
        requested = repo.active_branch.name
    try:
        repo.commit(f"refs/heads/{requested}")
    except (git.BadName, ValueError):
        raise UsageError(f"base branch {requested!r} does not exist in {repo.working_tree_dir or repo.git_dir}; pass --base-branch with an existing branch (a branch with at least one commit)") from None
    return requested


def _params(pairs: list[str], config: OrchardConfig, strategy_name: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(config.strategies.get(strategy_name, {}))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"malformed -S value {pair!r}; use -S key=value")
        params[key.strip()] = value
    return params


def _defaults(args: argparse.Namespace, config: OrchardConfig) -> TaskDefaults:
    try:
        return _task_defaults(args, config)
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"--{where.replace('_', '-')}: {message}") from None


def _task_defaults(args: argparse.Namespace, config: OrchardConfig) -> TaskDefaults:
    return TaskDefaults(
        model=args.model or config.model,
        plugin=args.plugin or config.plugin,
        agent_command=args.agent_command or config.agent_command,
        timeout=args.timeout if args.timeout is not None else config.runner.timeout,
        max_turns=args.max_turns if args.max_turns is not None else config.max_turns,
        import_policy=args.import_policy or config.import_.policy,
        import_conflict_policy=args.import_conflict_policy or config.import_.conflict_policy,
        skip_empty_import=config.import_.skip_empty,
        runner=args.runner or config.runner.kind,
        docker_image=args.docker_image or config.runner.docker_image,
        network_egress=args.network_egress or config.runner.network_egress,
        cpu_limit=config.runner.cpu_limit,
        memory_limit=config.runner.memory_limit,
        system_prompt=args.system_prompt or config.system_prompt,
        append_system_prompt=args.append_system_prompt or config.append_system_prompt,
        cli_args=_cli_args(args) or config.cli_args,
    )


def _cli_args(args: argparse.Namespace) -> list[str]:
    try:
        return [*args.cli_arg, *shlex.split(args.cli_args or "")]
    except ValueError as e:
        raise UsageError(f"--cli-args: {e}; quote values that contain spaces") from None


def _credentials(args: argparse.Namespace, plugin: str) -> dict[str, str]:
    """Environment for the worker's agents from --api-key, --oauth-token and --base-url."""
    creds: dict[str, str] = {}
    if args.api_key:
        creds["OPENAI_API_KEY" if plugin == "codex" else "ANTHROPIC_API_KEY"] = args.api_key
    if args.oauth_token:
        if plugin != "claude-code":
            raise UsageError("--oauth-token is for --plugin claude-code")
        creds["CLAUDE_CODE_OAUTH_TOKEN"] = args.oauth_token
    if args.base_url:
        creds["OPENAI_BASE_URL" if plugin == "codex" else "ANTHROPIC_BASE_URL"] = args.base_url
    return creds


def _output_mode(requested: str | None) -> str:
    return requested or ("tui" if sys.stdout.isatty() else "streaming")


async def _follow_and_report(target: Target, run_id: str, output: str, header: str, early: bool = False) -> int:
    """Follow until the run ends (or, if `early`, until it publishes its answer); Ctrl-C detaches
    from the run, which goes on."""
    renderer = make_renderer(output, header, target.ui_link(run_id))
    try:
        outcome = await follow(target.client, run_id, renderer, early)
    except asyncio.CancelledError:
        renderer.close()
        print(f"\norchard: detached; run {run_id} goes on. Watch it: orchard watch {run_id}; cancel it: orchard cancel {run_id}", file=sys.stderr)
        return DETACHED_EXIT
    finally:
        renderer.close()
    if outcome.early:
        print(f"orchard: run {run_id} goes on; watch it: orchard watch {run_id}", file=sys.stderr)
    return outcome.exit_code


async def cmd_run(args: argparse.Namespace) -> int:
    repo = _git_repo(args.repo)
    repo_root = str(Path(repo.working_tree_dir or repo.git_dir).resolve())
    config = load_config(args.config, repo_root)
    base_branch = _base_branch(repo, args.base_branch)
    spec = resolve_spec(args.strategy)
    strategy = load_strategy(spec)
    defaults = _defaults(args, config)
    params = strategy.normalize_params(resolve_param_files(strategy, _params(args.params, config, strategy.name())), defaults)
    if defaults.plugin == "command" and not defaults.agent_command:
        raise UsageError("the command plugin needs --agent-command \"CMD\" (or agent_command in orchard.yaml)")
    if args.max_parallel is not None and args.max_parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    if args.detach and args.with_worker:
        raise UsageError("--detach needs a worker that outlives this command; drop --with-worker and start `python worker.py`")
    address = args.address or config.temporal.address
    credentials = _credentials(args, defaults.plugin)
    if credentials and external_target(address) and not args.with_worker:
        raise UsageError("--api-key, --oauth-token and --base-url configure the embedded worker (or --with-worker); set them in your workers' environment instead")
    if not external_target(address) or args.with_worker:  # the worker runs on this host: check its Docker
        await _check_runner(defaults)
    max_parallel = args.max_parallel or config.orchestration.max_parallel or min(32, 4 * (os.cpu_count() or 1))
    run_input = RunInput(
        prompt=args.prompt, repo=repo_root, base_branch=base_branch, params=params,
        defaults=defaults, max_parallel=max_parallel, strategy_spec=spec,
    )
    target = await open_target(address, args.namespace or config.temporal.namespace, args.task_queue or config.temporal.task_queue, args.ui_url)
    task_queue = task_queue_for(strategy, spec) if target.embedded else target.task_queue
    output = _output_mode(args.output)
    if args.with_worker and not target.embedded:
        os.environ.update(credentials)  # the in-process worker's agents inherit them
        return await _run_with_worker(target, strategy, run_input, task_queue, output)
    await ensure_served(target, task_queue, spec, credentials)
    return await _start_and_follow(target, strategy, run_input, task_queue, output, args.detach, early=True)


async def _check_runner(defaults: TaskDefaults) -> None:
    """--runner docker without a usable engine and image is an error; `auto` falling back to the
    unisolated local runner for an agent CLI is said once."""
    runner, problem = await choose_runner(defaults)
    if problem and runner == "docker":
        raise UsageError(f"docker runner: {problem}")
    if problem:
        print(f"orchard: agents run as local processes, NOT isolated, because {problem} (--runner local says you mean it)", file=sys.stderr)


async def _start_and_follow(
    target: Target, strategy: Any, run_input: RunInput, task_queue: str, output: str, detach: bool, early: bool
) -> int:
    """Start the run and follow it; `early`: return with an answer the run publishes before it ends."""
    handle = await start_run(target, strategy, run_input, task_queue)
    link = target.ui_link(handle.id)
    if detach:
        print(f"started {strategy.name()} run; watch: orchard watch {handle.id}; cancel: orchard cancel {handle.id}" + (f"; UI: {link}" if link else ""), file=sys.stderr)
        print(handle.id)
        return EXIT_SUCCESS
    return await _follow_and_report(target, handle.id, output, f"{strategy.name()} run {handle.id}", early)


async def _run_with_worker(target: Target, strategy: Any, run_input: RunInput, task_queue: str, output: str) -> int:
    """The run served by a worker inside this process (never detached nor left early: the worker
    ends with it)."""
    from worker import build_worker, strategies_for

    async with build_worker(target.client, task_queue, strategies_for([run_input.strategy_spec])):
        return await _start_and_follow(target, strategy, run_input, task_queue, output, detach=False, early=False)


# ---------------------------------------------------------------------------------------------
# watch, show, cancel, list, history, replay


async def _target_for(args: argparse.Namespace) -> Target:
    config = load_config(args.config)
    return await open_target(args.address or config.temporal.address, args.namespace or config.temporal.namespace, None, None)


@dataclass
class _Run:
    handle: WorkflowHandle[Any, RunResult]
    desc: WorkflowExecutionDescription
    memo: dict[str, Any]

    @property
    def running(self) -> bool:
        return self.desc.status == WorkflowExecutionStatus.RUNNING


async def _find_run(target: Target, run_id: str) -> _Run:
    handle = target.client.get_workflow_handle(run_id, result_type=RunResult)
    try:
        desc = await handle.describe()
    except Exception as e:  # RPCError NOT_FOUND, mostly
        raise UsageError(f"no run {run_id!r} on {target.address} ({str(e).splitlines()[0]}); see `orchard list`") from None
    return _Run(handle, desc, await desc.memo())


async def cmd_watch(args: argparse.Namespace) -> int:
    target = await _target_for(args)
    run = await _find_run(target, args.run_id)
    if run.running:
        try:  # embedded: (re)starts the run's worker; a named server: says if none polls
            credentials = _credentials(args, run.memo.get("plugin", "command"))
            await ensure_served(target, run.memo.get("task_queue") or run.desc.task_queue, run.memo.get("strategy_spec"), credentials)
        except NoWorker as e:
            print(f"orchard: warning: {e}; the run waits until one does", file=sys.stderr)
    return await _follow_and_report(target, args.run_id, _output_mode(args.output), f"{run.desc.workflow_type} run {args.run_id}")


async def cmd_show(args: argparse.Namespace) -> int:
    if bool(args.run_id) == bool(args.experiment):
        raise UsageError("orchard show needs a RUN or --experiment NAME (not both)")
    target = await _target_for(args)
    if args.experiment:
        return await _show_experiment(target, args)
    run = await _find_run(target, args.run_id)
    desc, memo = run.desc, run.memo
    if run.running:
        progress = await query_progress(run.handle)
        published = progress.published if progress else None
        outcome = Outcome(run_id=args.run_id, status="running", progress=progress, error="still running", result=published, early=published is not None)
    else:
        outcome = await outcome_of(run.handle)
    if args.output == "json":
        data = outcome_json(outcome)
        data.update(strategy=desc.workflow_type, memo=memo, started=desc.start_time.isoformat() if desc.start_time else None)
        print(json.dumps(data))
        return EXIT_SUCCESS
    console = make_console()
    console.print(f"run {args.run_id}  strategy {desc.workflow_type}  repo {memo.get('repo')}  base {memo.get('base_branch')}")
    console.print(f"started {desc.start_time:%Y-%m-%d %H:%M:%S}  prompt: {str(memo.get('prompt', ''))[:200]}")
    print_outcome(console, outcome, target.ui_link(args.run_id))
    return EXIT_SUCCESS


async def _show_experiment(target: Target, args: argparse.Namespace) -> int:
    repo = _git_repo(args.repo)
    repo_root = str(Path(repo.working_tree_dir or repo.git_dir).resolve())
    state = await rotation_state(target, repo_root, args.experiment)
    if state is None:
        raise UsageError(f"no experiment {args.experiment!r} on {repo_root}; start one with `orchard run --strategy round-robin -S experiment={args.experiment} -S variants=...`")
    print_rotation(state, await run_outcomes(target, [t.run_id for t in state.turns]), args.output)
    return EXIT_SUCCESS


async def cmd_cancel(args: argparse.Namespace) -> int:
    target = await _target_for(args)
    run = await _find_run(target, args.run_id)
    if not run.running:
        raise UsageError(f"run {args.run_id} is already {run.desc.status.name.lower() if run.desc.status else 'closed'}; nothing to cancel")
    await run.handle.cancel()
    outcome = await outcome_of(run.handle)
    print(f"run {args.run_id}: {outcome.status}; its agents were stopped and their workspaces removed")
    return EXIT_SUCCESS


async def cmd_list(args: argparse.Namespace) -> int:
    target = await _target_for(args)
    clauses = []
    if args.strategy:
        clauses.append(f'OrchardStrategy = "{args.strategy}"')
    if args.repo:
        clauses.append(f'OrchardRepo = "{Path(args.repo).resolve()}"')
    if args.status in ("success", "partial", "failed"):
        clauses.append(f'OrchardOutcome = "{args.status}"')
    elif args.status:
        clauses.append(f'ExecutionStatus = "{"".join(w.capitalize() for w in args.status.split("_"))}"')
    query = " AND ".join(["OrchardStrategy IS NOT NULL", *clauses])  # runs only, not rotations
    rows = []
    async for wf in target.client.list_workflows(query, limit=args.limit):
        attrs = wf.typed_search_attributes
        outcome = attrs.get(SA_OUTCOME)
        status = wf.status.name.lower() if wf.status else "?"
        rows.append({
            "run_id": wf.id, "strategy": wf.workflow_type, "status": outcome if status == "completed" and outcome else status,
            "started": wf.start_time.isoformat() if wf.start_time else None,
            "repo": attrs.get(SA_REPO),
        })
    if args.output == "json":
        for row in rows:
            print(json.dumps(row))
        return EXIT_SUCCESS
    for row in rows:
        print(f"{row['run_id']:<32} {row['strategy']:<14} {row['status']:<10} {(row['started'] or '')[:19]:<20} {row['repo']}")
    if not rows:
        print("no runs", file=sys.stderr)
    return EXIT_SUCCESS


async def cmd_history(args: argparse.Namespace) -> int:
    if args.out and Path(args.out).exists() and not args.force:
        raise UsageError(f"{args.out} exists; choose another file or pass --force")
    target = await _target_for(args)
    history = await (await _find_run(target, args.run_id)).handle.fetch_history()
    text = history.to_json()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(history.events)} events of {args.run_id} to {args.out}", file=sys.stderr)
    else:
        print(text)
    return EXIT_SUCCESS


async def cmd_replay(args: argparse.Namespace) -> int:
    from client.replay import ReplayDiverged, replay

    if Path(args.source).is_file():
        history_json, workflow_id = Path(args.source).read_text(), Path(args.source).stem
    else:
        target = await _target_for(args)
        history = await (await _find_run(target, args.source)).handle.fetch_history()
        history_json, workflow_id = history.to_json(), args.source
    try:
        message = await replay(history_json, workflow_id, args.strategy)
    except ReplayDiverged as e:
        print(f"orchard: nondeterminism: {e}", file=sys.stderr)
        return EXIT_FAILURE
    print(message)
    return EXIT_SUCCESS


async def cmd_clean(args: argparse.Namespace) -> int:
    from client.clean import clean

    target = await _target_for(args)
    if args.run_id:
        try:
            running = (await target.client.get_workflow_handle(args.run_id).describe()).status == WorkflowExecutionStatus.RUNNING
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            running = False  # Temporal no longer knows it (retention): its leftovers can go
        if running:
            raise UsageError(f"run {args.run_id} is still running; cancel it first (orchard cancel {args.run_id})")
        open_ids: set[str] = set()
    else:
        open_ids = {w.id async for w in target.client.list_workflows('ExecutionStatus="Running"')}
    print((await clean(args.run_id, open_ids)).summary())
    return EXIT_SUCCESS


async def cmd_doctor(args: argparse.Namespace) -> int:
    from client.doctor import run_checks

    config = load_config(args.config)
    image = args.docker_image or config.runner.docker_image or DEFAULT_IMAGE
    checks = await run_checks(args.address or config.temporal.address, args.namespace or config.temporal.namespace, image)
    if args.output == "json":
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.level:<4}  {c.name:<{width}}  {c.detail}")
    return EXIT_FAILURE if any(c.level == "fail" for c in checks) else EXIT_SUCCESS


def cmd_server(args: argparse.Namespace) -> int:
    if args.action == "stop":
        stopped = devserver.stop_all()
        print("stopped: " + ", ".join(stopped) if stopped else f"nothing of Orchard's is running (state in {orchard_home()})")
        return EXIT_SUCCESS
    settings = devserver.load_dev_settings()
    if args.action == "status":
        try:
            asyncio.run(connect(settings.address, settings.namespace))
            print(f"Temporal at {settings.address} is up" + (f"; UI {settings.ui_url}" if settings.ui_url else ""))
            return EXIT_SUCCESS
        except ServerUnreachable:
            print(f"Temporal at {settings.address} is not running")
            return EXIT_FAILURE
    cmd = devserver.server_command(settings)
    settings.db_path().parent.mkdir(parents=True, exist_ok=True)
    print(f"Temporal dev server from {devserver.dev_config_path()} on {settings.address}" + (f", UI {settings.ui_url}" if settings.ui_url else ""), flush=True)
    os.execv(cmd[0], cmd)


COMMANDS = {
    "run": cmd_run, "watch": cmd_watch, "show": cmd_show, "cancel": cmd_cancel,
    "list": cmd_list, "history": cmd_history, "replay": cmd_replay, "clean": cmd_clean, "doctor": cmd_doctor,
}


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_glue_passthrough(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "server":
            return cmd_server(args)
        return asyncio.run(COMMANDS[args.command](args))
    except (UsageError, ConfigError, StrategyLoadError, ConfigFileError, NoWorker, devserver.DevServerError) as e:
        print(f"orchard: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ServerUnreachable as e:
        print(f"orchard: {e}; check --address / TEMPORAL_ADDRESS, or drop them to use the embedded server", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_SUCCESS
    except KeyboardInterrupt:
        print("\norchard: interrupted; a run already started goes on (see `orchard list --status running`)", file=sys.stderr)
        return DETACHED_EXIT


def entrypoint() -> NoReturn:
    """The console script. Exits without interpreter finalization: the Temporal client's native
    threads can abort a finalizing interpreter (PyGILState_Release), turning a clean exit into 134."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `orchard list | head`
        pass
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
