"""`orchard run PROMPT`: check everything, start the run, follow it (or detach)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from typing import Any

from pydantic import ValidationError

from activities.agents import PLUGINS
from activities.git.overlay import checkouts_asked, overlay_unavailable
from activities.paths import orchard_home
from activities.runners.choice import RUNNER_MODULES, choose_runner
from client.agent_env import parse_agent_env
from client.credentials import credentials_from
from client.embedded import pending_worker
from client.embedded.workers import worker_queue
from client.errors import DETACHED_EXIT, EXIT_SEVERITY, EXIT_SUCCESS, UsageError, disk_full_under
from client.follow import follow_and_report
from client.params import resolve_param_files
from client.prompt import read_prompt
from client.render import output_mode
from client.repository import RunRepository, base_branch, remote_base_branch, report_fetched, run_repository
from client.runs import Target, ensure_served, open_target, start_run, start_served, task_queue_for
from client.target import external_target
from orchard_common.config import OrchardConfig, load_config
from orchard_common.strategy_loader import check_in_sandbox, load_module_spec, load_strategy, resolve_spec
from workflows.sdk.models import RunInput, TaskDefaults, first_error
from workflows.sdk.strategy import Strategy


async def cmd_run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args)
    repository = run_repository(args.repo, args.remote)
    config = load_config(args.config, repository.root)
    spec = resolve_spec(args.strategy)
    strategy = load_strategy(spec)
    check_in_sandbox(strategy)
    if repository.local is None or repository.remote:
        if strategy.LOCAL_REPOSITORY_ONLY:
            raise UsageError(f"the {strategy.name()} strategy works on a repository the workers share by path, not on a remote; drop --remote / pass --repo PATH")
        base, base_commit = await remote_base_branch(repository, args.base_branch)
    else:
        base, base_commit = base_branch(repository.local, args.base_branch)
    defaults = task_defaults(args, config)
    params = strategy.normalize_params(load_param_modules(strategy, resolve_param_files(strategy, strategy_params(args.params, config, strategy.name()))), defaults)
    modules = strategy.worker_modules(params)
    if defaults.plugin not in PLUGINS:
        raise UsageError(f"unknown plugin {defaults.plugin!r}; available: {', '.join(sorted(PLUGINS))}")
    if defaults.plugin == "command" and not defaults.agent_command and strategy.needs_agent_command(params):
        raise UsageError("the command plugin needs --agent-command \"CMD\" (or agent_command in orchard.yaml)")
    if args.runs < 1:
        raise UsageError(f"--runs {args.runs}: give a number of runs, 1 or more")
    if args.detach and args.with_worker:
        raise UsageError("--detach needs a worker that outlives this command; drop --with-worker and start `python worker.py`")
    address = args.address or config.temporal.address
    credentials = credentials_from(args, defaults.plugin)
    if credentials and external_target(address) and not args.with_worker:
        raise UsageError("--api-key, --oauth-token and --base-url configure the embedded worker (or --with-worker); set them in your workers' environment instead")
    run_input = _run_input(args, config, repository.repo, base, base_commit, params, defaults, spec, prompt)
    runner = "local"
    if not external_target(address) or args.with_worker:  # the worker runs on this host: check its Docker and disk
        runner = await check_runner(defaults)
        full = disk_full_under(orchard_home())
        if full:
            raise UsageError(full)
    embedded_queue = task_queue_for(strategy, spec, modules)
    if not external_target(address):  # embedded: its worker starts now, beside the server if that is down too
        start_served(embedded_queue, spec, credentials, modules, RUNNER_MODULES.get(runner, []))
    pending_worker.release()  # a worker the launcher started early and this run does not need
    target = await open_target(address, args.namespace or config.temporal.namespace, args.task_queue or config.temporal.task_queue, args.ui_url)
    task_queue = embedded_queue if target.embedded else target.task_queue
    output = output_mode(args.output)
    if args.with_worker and not target.embedded:
        os.environ.update(credentials)  # the in-process worker's agents inherit them
        return await _run_with_worker(target, strategy, run_input, task_queue, output, args.keep_waiting, args.runs, repository)
    if not target.embedded:  # a named server's workers are checked before anything is started there
        await ensure_served(target, task_queue, spec, credentials, modules)
        return await _start_and_follow(target, strategy, run_input, task_queue, output, args.detach, early=True, keep_waiting=args.keep_waiting,
                                       runs=args.runs, repository=repository)
    # Embedded: the run goes to a worker with this shell's credentials (worker_queue), and starts
    # while that worker comes up (on a cold start it is still connecting), so that the worker's
    # first poll takes its first task; a worker that fails to start undoes it.
    task_queue = await worker_queue(target.client, task_queue, credentials)
    serving = asyncio.ensure_future(ensure_served(target, task_queue, spec, credentials, modules))
    try:
        return await _start_and_follow(target, strategy, run_input, task_queue, output, args.detach, early=True, keep_waiting=args.keep_waiting,
                                       runs=args.runs, repository=repository, serving=serving)
    finally:
        serving.cancel()


def load_param_modules(strategy: type[Strategy], params: dict[str, Any]) -> dict[str, Any]:
    """The code the strategy's MODULE_PARAMS name, imported here (so its checks can run) with its
    path made absolute (so a worker started elsewhere finds it)."""
    loaded = dict(params)
    for key in strategy.MODULE_PARAMS:
        if isinstance(params.get(key), str) and params[key].strip():
            loaded[key] = load_module_spec(params[key].strip(), f"-S {key}:")
    return loaded


def strategy_params(pairs: list[str], config: OrchardConfig, strategy_name: str) -> dict[str, Any]:
    """orchard.yaml's `strategies: NAME:` values, overridden by `-S key=value`."""
    params: dict[str, Any] = dict(config.strategies.get(strategy_name, {}))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"malformed -S value {pair!r}; use -S key=value")
        params[key.strip()] = value
    return params


def task_defaults(args: argparse.Namespace, config: OrchardConfig) -> TaskDefaults:
    """The run's agent settings: the flags given, over orchard.yaml, over TaskDefaults' defaults."""
    flags = {
        "model": args.model, "plugin": args.plugin, "agent_command": args.agent_command, "timeout": args.timeout,
        "max_turns": args.max_turns, "import_policy": args.import_policy, "import_conflict_policy": args.import_conflict_policy,
        "runner": args.runner, "docker_image": args.docker_image, "network_egress": args.network_egress,
        "system_prompt": args.system_prompt, "append_system_prompt": args.append_system_prompt, "cli_args": _cli_args(args) or None,
    }
    values, from_worker = parse_agent_env([*config.agent_env_specs(), *args.env])
    env = {"agent_env": values, "worker_env": from_worker} if values or from_worker else {}
    try:
        return TaskDefaults.model_validate({**config.task_settings(), **{k: v for k, v in flags.items() if v is not None}, **env})
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"--{where.replace('_', '-')}: {message}") from None


def _run_input(
    args: argparse.Namespace, config: OrchardConfig, root: str, base: str, base_commit: str, params: dict[str, Any], defaults: TaskDefaults, spec: str,
    prompt: str,
) -> RunInput:
    given = {"max_parallel": args.max_parallel, "randomize_queue": args.randomize_queue or None, "branch_namespace": args.branch_namespace}
    fields: dict[str, Any] = {"max_parallel": default_max_parallel(), **config.orchestration.model_dump(exclude_none=True),
                              **{k: v for k, v in given.items() if v is not None}}
    try:
        return RunInput(prompt=prompt, repo=root, base_branch=base, base_commit=base_commit, params=params, defaults=defaults, strategy_spec=spec, **fields)
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"--{where.replace('_', '-')}: {message}") from None


def default_max_parallel() -> int:
    """Instances running at once when neither the CLI nor orchard.yaml says: 4 per core of this
    host, at most 32. Computed here, as the run is asked for, never in the workflow (whose input
    would then depend on the host replaying it)."""
    return min(32, 4 * (os.cpu_count() or 1))


def _cli_args(args: argparse.Namespace) -> list[str]:
    try:
        return [*args.cli_arg, *shlex.split(args.cli_args or "")]
    except ValueError as e:
        raise UsageError(f"--cli-args: {e}; quote values that contain spaces") from None


async def check_runner(defaults: TaskDefaults) -> str:
    """The runner the run's agents get. --runner docker without a usable engine and image is an
    error; what the local runner cannot give (isolation for an agent CLI, a network egress limit),
    and full checkouts where overlays cannot be mounted on this host, are said once when the run starts."""
    runner, problem = await choose_runner(defaults)
    if problem and runner == "docker":
        raise UsageError(f"docker runner: {problem}")
    if problem:
        print(f"orchard: agents run as local processes, NOT isolated, because {problem} (--runner local says you mean it)", file=sys.stderr)
    if runner == "local" and defaults.network_egress != "online":
        print(f"orchard: --network-egress {defaults.network_egress} has no effect on the local runner: agents use the host's network (it needs --runner docker)", file=sys.stderr)
    why = overlay_unavailable()
    if why is not None and not checkouts_asked():
        print(f"orchard: each workspace is a full checkout, not a copy-on-write overlay, because {why}", file=sys.stderr)
    return runner


async def _start_and_follow(
    target: Target, strategy: type[Strategy], run_input: RunInput, task_queue: str, output: str, detach: bool, early: bool, keep_waiting: bool,
    runs: int = 1, repository: RunRepository | None = None, serving: asyncio.Future[None] | None = None,
) -> int:
    """Start the run (`runs` of them: the whole strategy again, each its own run, all at once) and
    follow each in turn; `early`: return with an answer a run publishes before it ends. The exit
    code is the worst of the runs'. A run on the remote of a local `repository` (--remote) brings
    its branches there when it ends. `serving`: the worker coming up meanwhile (see start_run)."""
    handles = [await start_run(target, strategy, run_input, task_queue, serving) for _ in range(runs)]
    if detach:
        for handle in handles:
            link = target.ui_link(handle.id)
            print(f"started {strategy.name()} run; watch: orchard watch {handle.id}; cancel: orchard cancel {handle.id}" + (f"; UI: {link}" if link else ""), file=sys.stderr)
            print(handle.id)
        return EXIT_SUCCESS
    codes = []
    for i, handle in enumerate(handles, 1):
        code = await follow_and_report(target, handle.id, output, f"{strategy.name()} run {handle.id}" + (f" ({i} of {runs})" if runs > 1 else ""), early, keep_waiting)
        if code == DETACHED_EXIT:  # Ctrl-C: every run goes on
            return code
        if repository is not None and repository.remote:
            await report_fetched(repository, handle.id)
        codes.append(code)
    return max(codes, key=EXIT_SEVERITY.index)


async def _run_with_worker(target: Target, strategy: type[Strategy], run_input: RunInput, task_queue: str, output: str, keep_waiting: bool, runs: int,
                           repository: RunRepository) -> int:
    """The run served by a worker inside this process (never detached nor left early: the worker
    ends with it)."""
    from orchard_worker.main import build_worker, strategies_for

    async with build_worker(target.client, task_queue, strategies_for([run_input.strategy_spec])):
        return await _start_and_follow(target, strategy, run_input, task_queue, output, detach=False, early=False, keep_waiting=keep_waiting, runs=runs,
                                       repository=repository)
