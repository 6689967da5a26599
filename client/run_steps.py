"""The steps of `orchard run`, in the order client/commands/run.py runs them. Each takes the
request (client/request.py) and what earlier steps produced, returns what it found, and is tested
on its own (tests/client/test_run_steps.py), as nox's tasks are:

    prompt       the prompt, read from the argument, stdin or its file
    repository   the repository the run works on (here, or a remote)
    configuration  orchard.yaml and the flags: the agents' settings, credentials, where the run is served
    strategy     the strategy loaded and checked, and its parameters
    base         the branch the agents start from, and its commit
    run_input    the workflow's input
    runner       the runner, overlays and disk, when the worker runs on this host
    serve        the server and a worker for the run: embedded, a named server's, or one in this process
    start        the run started (--runs N: N runs)
    follow       each run followed to its end, or their ids printed (--detach)

What they ask this host before the run starts goes through client/preflight.py; nothing here reads
the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.client import WorkflowHandle

from client import preflight
from client.agent_env import parse_agent_env
from client.credentials import credentials_from
from client.embedded import pending_worker
from client.embedded.background_workers import worker_queue
from client.errors import DETACHED_EXIT, EXIT_SEVERITY, EXIT_SUCCESS, UsageError
from client.follow import follow_and_report
from client.params import resolve_param_files
from client.preflight import RunnerCheck
from client.prompt import read_prompt
from client.render import output_mode
from client.repository import RunRepository, base_branch, remote_base_branch, report_fetched, run_repository
from client.request import AgentFlags, RunRequest
from client.runs import Target, ensure_served, open_target, start_run, start_served, task_queue_for
from client.target import external_target
from orchard_common.config import OrchardConfig, load_config
from orchard_common.strategy_loader import check_in_sandbox, load_module_spec, load_strategy, resolve_spec
from workflows.sdk.budget import Budget
from workflows.sdk.models import RunInput, TaskDefaults, first_error
from workflows.sdk.notify import NotifySettings
from workflows.sdk.shared_budgets import check_name
from workflows.sdk.strategy import Strategy

Serving = Literal["embedded", "named", "in-process"]
"""Who serves the run: the embedded server's background worker, a named server's workers, or a
worker in this process (`--with-worker` with a named server)."""


def prompt(request: RunRequest) -> str:
    return read_prompt(request.prompt)


def repository(request: RunRequest) -> RunRepository:
    return run_repository(request.repo, request.remote)


@dataclass(frozen=True)
class Configuration:
    """orchard.yaml with the flags laid over it."""

    config: OrchardConfig
    defaults: TaskDefaults
    """The agents' settings."""
    credentials: dict[str, str] = field(repr=False)
    """The environment the worker this host starts gets from --api-key, --oauth-token and --base-url."""
    address: str | None
    namespace: str | None
    task_queue: str | None
    serving: Serving

    @property
    def worker_here(self) -> bool:
        """The run's worker runs on this host (the embedded one, or one in this process)."""
        return self.serving != "named"


def configuration(request: RunRequest, repository: RunRepository) -> Configuration:
    config = load_config(request.server.config, repository.root)
    defaults = task_defaults(request.agent, config)
    plugins = preflight.agent_plugins()
    if defaults.plugin not in plugins:
        raise UsageError(f"unknown plugin {defaults.plugin!r}; available: {', '.join(plugins)}")
    address = request.server.address or config.temporal.address
    serving: Serving = "in-process" if request.server.with_worker else "named"
    if not external_target(address):
        serving = "embedded"
    credentials = credentials_from(request.credentials, defaults.plugin)
    if credentials and serving == "named":
        raise UsageError("--api-key, --oauth-token and --base-url configure the embedded worker (or --with-worker); set them in your "
                         "workers' environment instead")
    return Configuration(config, defaults, credentials, address, request.server.namespace or config.temporal.namespace,
                         request.server.task_queue or config.temporal.task_queue, serving)


def task_defaults(flags: AgentFlags, config: OrchardConfig) -> TaskDefaults:
    """The run's agent settings: the flags given, over orchard.yaml, over TaskDefaults' defaults."""
    values, from_worker = parse_agent_env([*config.agent_env_specs(), *flags.env])
    env = {"agent_env": values, "worker_env": from_worker} if values or from_worker else {}
    try:
        return TaskDefaults.model_validate({**config.task_settings(), **flags.given(), **env})
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"--{where.replace('_', '-')}: {message}") from None


@dataclass(frozen=True)
class ChosenStrategy:
    """The strategy the run runs, its parameters, and the modules its worker must import."""

    spec: str
    """The spec, a file's path made absolute (a worker started elsewhere finds it)."""
    cls: type[Strategy]
    params: dict[str, Any]
    modules: list[str]

    @property
    def name(self) -> str:
        return self.cls.name()


def strategy(request: RunRequest, repository: RunRepository, configuration: Configuration) -> ChosenStrategy:
    spec = resolve_spec(request.strategy)
    cls = load_strategy(spec)
    check_in_sandbox(cls)
    if (repository.local is None or repository.remote) and cls.LAUNCH.local_repository_only:
        raise UsageError(f"the {cls.name()} strategy works on a repository the workers share by path, not on a remote; drop --remote / pass --repo PATH")
    defaults = configuration.defaults
    given = strategy_params(request.params, configuration.config, cls.name())
    params = cls.normalize_params(load_param_modules(cls, resolve_param_files(cls, given)), defaults)
    if defaults.plugin == "command" and not defaults.agent_command and cls.LAUNCH.needs_agent_command(params):
        raise UsageError("the command plugin needs --agent-command \"CMD\" (or agent_command in orchard.yaml)")
    return ChosenStrategy(spec, cls, params, cls.LAUNCH.worker_modules(params))


def strategy_params(pairs: tuple[tuple[str, str], ...], config: OrchardConfig, strategy_name: str) -> dict[str, Any]:
    """orchard.yaml's `strategies: NAME:` values, overridden by `-S key=value`."""
    return {**config.strategies.get(strategy_name, {}), **dict(pairs)}


def load_param_modules(strategy: type[Strategy], params: dict[str, Any]) -> dict[str, Any]:
    """The code the strategy's launch module_params name, imported here (so its checks can run) with its
    path made absolute (so a worker started elsewhere finds it)."""
    loaded = dict(params)
    for key in strategy.LAUNCH.module_params:
        if isinstance(params.get(key), str) and params[key].strip():
            loaded[key] = load_module_spec(params[key].strip(), f"-S {key}:")
    return loaded


@dataclass(frozen=True)
class Base:
    """The branch the agents start from, and its commit."""

    branch: str
    commit: str


async def base(request: RunRequest, repository: RunRepository) -> Base:
    """On a remote (--repo URL, --remote NAME), the remote says; else the repository here."""
    if repository.local is None or repository.remote:
        return Base(*await remote_base_branch(repository, request.base_branch))
    return Base(*base_branch(repository.local, request.base_branch))


def run_input(request: RunRequest, prompt: str, repository: RunRepository, base: Base, configuration: Configuration, chosen: ChosenStrategy) -> RunInput:
    """The workflow's input: orchestration from the flags, over orchard.yaml, over this host's default."""
    fields: dict[str, Any] = {"max_parallel": default_max_parallel(), **configuration.config.orchestration.model_dump(exclude_none=True),
                              **request.orchestration()}
    budget = run_budget(request, configuration)
    notify = NotifySettings(targets=configuration.config.notify) if configuration.config.notify else None
    try:
        return RunInput(prompt=prompt, repo=repository.repo, base_branch=base.branch, base_commit=base.commit, params=chosen.params,
                        defaults=configuration.defaults, strategy_spec=chosen.spec, budget=budget, notify=notify, **fields)
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"--{where.replace('_', '-')}: {message}") from None


@dataclass(frozen=True)
class Planned:
    """A run as its first steps make it, checked before anything starts."""

    repository: RunRepository
    configuration: Configuration
    chosen: ChosenStrategy
    run_input: RunInput


async def planned(request: RunRequest) -> Planned:
    """The first steps, in order: the prompt, the repository, the configuration, the strategy, the
    base and the workflow's input (`orchard run`, a schedule and `orchard eval` each take them)."""
    text = prompt(request)
    where = repository(request)
    config = configuration(request, where)
    chosen = strategy(request, where, config)
    at = await base(request, where)
    return Planned(where, config, chosen, run_input(request, text, where, at, config, chosen))


BUDGET_FLAGS = {"max_cost": "--max-cost", "max_tokens": "--max-tokens", "policy": "--budget-policy", "shared": "--budget"}


def run_budget(request: RunRequest, configuration: Configuration) -> Budget | None:
    """The run's budget: the flags over orchard.yaml's `budget:`; None when neither limits anything."""
    try:
        budget = Budget.model_validate({**configuration.config.budget.model_dump(exclude_unset=True), **request.budget()})
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"{BUDGET_FLAGS.get(where, where)}: {message}") from None
    if budget.shared is not None:
        try:
            check_name(budget.shared)
        except ValueError as e:
            raise UsageError(f"--budget: {e}") from None
    return budget if budget.limited or budget.shared else None


def default_max_parallel() -> int:
    """Instances running at once when neither the CLI nor orchard.yaml says: 4 per core of this
    host, at most 32. Computed here, as the run is asked for, never in the workflow (whose input
    would then depend on the host replaying it)."""
    return min(32, 4 * (os.cpu_count() or 1))


async def runner(configuration: Configuration) -> RunnerCheck:
    """When the worker runs on this host: its runner (check_runner) and a disk with room. A named
    server's workers run elsewhere: nothing here to check."""
    if not configuration.worker_here:
        return RunnerCheck("local")
    check = await check_runner(configuration.defaults)
    full = preflight.disk_problem()
    if full:
        raise UsageError(full)
    return check


async def check_runner(defaults: TaskDefaults) -> RunnerCheck:
    """The runner the run's agents get. --runner docker or sandbox where it cannot run is an error;
    a default that fell back to local processes says so, NOT isolated, and why; what the local
    runner cannot give (a network egress limit), and full checkouts where overlays cannot be mounted
    on this host, are said once when the run starts. Which runner it is, the run's header says
    (follow): a successful run says nothing on stderr."""
    check = await preflight.runner(defaults)
    if check.problem and check.runner in ("docker", "sandbox"):
        raise UsageError(f"{check.runner} runner: {check.problem}")
    if check.problem:
        print(f"orchard: agents run as local processes, NOT isolated, because {check.problem} (--runner local says you mean it)", file=sys.stderr)
    if check.runner == "local" and defaults.network_egress != "online":
        print(f"orchard: --network-egress {defaults.network_egress} has no effect on the local runner: agents use the host's network "
              "(it needs --runner sandbox or docker)", file=sys.stderr)
    why = preflight.overlay_problem()
    if why is not None:
        print(f"orchard: each workspace is a full checkout, not a copy-on-write overlay, because {why}", file=sys.stderr)
    return check


@dataclass
class Served:
    """A connected server and the task queue whose worker serves the run."""

    target: Target
    task_queue: str
    early: bool
    """A run may be left once it publishes its answer: its worker outlives this command."""
    serving: asyncio.Future[None] | None = None
    """The worker coming up meanwhile (embedded): a run started before it polls is undone if it fails."""


Server = Callable[[RunRequest, Configuration, ChosenStrategy, RunnerCheck], contextlib.AbstractAsyncContextManager[Served]]


def serve(request: RunRequest, configuration: Configuration, chosen: ChosenStrategy, runner: RunnerCheck) -> contextlib.AbstractAsyncContextManager[Served]:
    """The server and a worker for the run, by who serves it; left as the command ends."""
    return SERVERS[configuration.serving](request, configuration, chosen, runner)


async def _connect(request: RunRequest, configuration: Configuration) -> Target:
    pending_worker.release()  # a worker the launcher started early and this run does not need (a no-op once it was handed a start)
    return await open_target(configuration.address, configuration.namespace, configuration.task_queue, request.server.ui_url)


@contextlib.asynccontextmanager
async def _embedded(request: RunRequest, configuration: Configuration, chosen: ChosenStrategy, runner: RunnerCheck) -> AsyncIterator[Served]:
    """The embedded server: its worker starts now, beside the server if that is down too. The run
    goes to a worker with this shell's credentials (worker_queue), and starts while that worker
    comes up (on a cold start it is still connecting), so that the worker's first poll takes its
    first task; a worker that fails to start undoes it."""
    queue = task_queue_for(chosen.cls, chosen.spec, chosen.modules)
    processes = configuration.config.worker.processes
    start_served(queue, chosen.spec, configuration.credentials, chosen.modules, runner.imports, processes)
    target = await _connect(request, configuration)
    queue = await worker_queue(target.client, queue, configuration.credentials)
    serving = asyncio.ensure_future(ensure_served(target, queue, chosen.spec, configuration.credentials, chosen.modules, processes))
    try:
        yield Served(target, queue, early=True, serving=serving)
    finally:
        serving.cancel()


@contextlib.asynccontextmanager
async def _named(request: RunRequest, configuration: Configuration, chosen: ChosenStrategy, runner: RunnerCheck) -> AsyncIterator[Served]:
    """A named server: a worker must poll its queue before anything is started there."""
    target = await _connect(request, configuration)
    await ensure_served(target, target.task_queue, chosen.spec, configuration.credentials, chosen.modules)
    yield Served(target, target.task_queue, early=True)


@contextlib.asynccontextmanager
async def _in_process(request: RunRequest, configuration: Configuration, chosen: ChosenStrategy, runner: RunnerCheck) -> AsyncIterator[Served]:
    """A named server, the run served by a worker inside this process (never detached nor left
    early: the worker ends with it)."""
    from orchard_worker.main import build_worker, strategies_for

    target = await _connect(request, configuration)
    os.environ.update(configuration.credentials)  # the in-process worker's agents inherit them
    async with build_worker(target.client, target.task_queue, strategies_for([chosen.spec])):
        yield Served(target, target.task_queue, early=False)


SERVERS: dict[Serving, Server] = {"embedded": _embedded, "named": _named, "in-process": _in_process}


async def start(request: RunRequest, chosen: ChosenStrategy, run_input: RunInput, served: Served) -> list[WorkflowHandle[Any, Any]]:
    """The run started, `--runs` of them (the whole strategy again, each its own run, all at once)."""
    if run_input.notify is not None and served.target.ui_url:  # notifications link to the run in the Temporal UI
        ui = (served.target.ui_link("") or "")
        run_input = run_input.model_copy(update={"notify": run_input.notify.model_copy(update={"ui": ui})})
    return [await start_run(served.target, chosen.cls, run_input, served.task_queue, served.serving) for _ in range(request.runs)]


RUNNER_NOTES = {"sandbox": "agents sandboxed by bubblewrap", "docker": "agents in containers", "local": "agents as local processes, NOT isolated"}
"""What a run's header says of where its agents run."""


def run_header(strategy: str, run_id: str, runner: RunnerCheck | None, of: tuple[int, int] = (1, 1)) -> str:
    """The first line of a followed run: which run (its id a word of its own, as scripts read it),
    and in brackets which of several and where its agents run when this host's worker runs them
    (`runner`; None: a named server's workers, whose runner is theirs to say)."""
    i, n = of
    notes = [*([f"{i} of {n}"] if n > 1 else []), *([RUNNER_NOTES[runner.runner]] if runner is not None and runner.runner in RUNNER_NOTES else [])]
    return f"{strategy} run {run_id}" + (f" ({', '.join(notes)})" if notes else "")


async def follow(request: RunRequest, repository: RunRepository, chosen: ChosenStrategy, served: Served, handles: list[WorkflowHandle[Any, Any]],
                 runner: RunnerCheck | None = None) -> int:
    """Detached: each run's id, and how to watch it. Else each run followed in turn (to its end, or
    until it publishes its answer when its worker outlives this command), its header saying where
    its agents run (`runner`, when this host's worker runs them); the exit code is the worst of the
    runs'. A run on the remote of a local repository (--remote) brings its branches here when it ends."""
    if request.detach:
        for handle in handles:
            link = served.target.ui_link(handle.id)
            print(f"started {chosen.name} run; watch: orchard watch {handle.id}; cancel: orchard cancel {handle.id}" + (f"; UI: {link}" if link else ""),
                  file=sys.stderr)
            print(handle.id)
        return EXIT_SUCCESS
    output = output_mode(request.output)
    codes = []
    for i, handle in enumerate(handles, 1):
        header = run_header(chosen.name, handle.id, runner, (i, len(handles)))
        code = await follow_and_report(served.target, handle.id, output, header, served.early, request.keep_waiting)
        if code == DETACHED_EXIT:  # Ctrl-C: every run goes on
            return code
        if repository.remote:
            await report_fetched(repository, handle.id)
        codes.append(code)
    return max(codes, key=EXIT_SEVERITY.index)
