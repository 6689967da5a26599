"""`orchard run PROMPT`: its arguments read once, here, into a RunRequest (client/request.py); then
the run's steps (client/run_steps.py) check everything, start the run and follow it (or detach).
`orchard runbook run` and `runbook worker start` come in here too, with their namespace."""

from __future__ import annotations

import argparse
import shlex

from activities.timeline import mark
from client import run_steps as step
from client.errors import UsageError
from client.prompt import prompt_source
from client.request import AgentFlags, GivenCredentials, RunRequest, ServerFlags


async def cmd_run(args: argparse.Namespace) -> int:
    return await run(request_from(args))


async def run(request: RunRequest) -> int:
    """The steps, in order; each raises UsageError (exit 2) for what the user must fix, before
    anything is started."""
    plan = await step.planned(request)
    mark("command: planned")
    runner = await step.runner(plan.configuration)
    mark("command: runner checked")
    async with step.serve(request, plan.configuration, plan.chosen, runner) as served:
        mark("command: served")
        handles = await step.start(request, plan.chosen, plan.run_input, served)
        mark("command: run started")
        return await step.follow(request, plan.repository, plan.chosen, served, handles, runner if plan.configuration.worker_here else None)


def request_from(args: argparse.Namespace) -> RunRequest:
    """The only reading of the namespace: what can be told from the arguments alone is checked here."""
    source = prompt_source(args.prompt, args.prompt_file)
    params = tuple(param_pair(pair) for pair in args.params)
    cli_args = (*args.cli_arg, *split_cli_args(args.cli_args))
    if args.runs < 1:
        raise UsageError(f"--runs {args.runs}: give a number of runs, 1 or more")
    if args.detach and args.with_worker:
        raise UsageError("--detach needs a worker that outlives this command; drop --with-worker and start `python worker.py`")
    agent = AgentFlags(
        model=args.model, plugin=args.plugin, agent_command=args.agent_command, timeout=args.timeout, max_turns=args.max_turns,
        import_policy=args.import_policy, import_conflict_policy=args.import_conflict_policy, runner=args.runner,
        docker_image=args.docker_image, network_egress=args.network_egress, system_prompt=args.system_prompt,
        append_system_prompt=args.append_system_prompt, cli_args=cli_args, env=tuple(args.env),
    )
    return RunRequest(
        prompt=source, strategy=args.strategy, params=params, agent=agent, repo=args.repo, remote=args.remote, base_branch=args.base_branch,
        max_parallel=args.max_parallel, randomize_queue=args.randomize_queue or None, branch_namespace=args.branch_namespace,
        max_cost=args.max_cost, max_tokens=args.max_tokens, budget_policy=args.budget_policy, shared_budget=args.shared_budget,
        credentials=GivenCredentials(args.api_key, args.oauth_token, args.base_url),
        server=ServerFlags(args.address, args.namespace, args.task_queue, args.ui_url, args.config, args.with_worker),
        output=args.output, detach=args.detach, runs=args.runs, keep_waiting=args.keep_waiting,
    )


def param_pair(pair: str) -> tuple[str, str]:
    """`-S key=value` (the value as given: a step parses JSON and reads files)."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"malformed -S value {pair!r}; use -S key=value")
    return key.strip(), value


def split_cli_args(text: str | None) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError as e:
        raise UsageError(f"--cli-args: {e}; quote values that contain spaces") from None
