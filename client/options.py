"""The options of Orchard's commands that more than one command (or parser) takes, one definition
each: `orchard run`'s agent, runner, output and server options, which `orchard runbook run` and
`orchard runbook worker start` take too, and the parser that reads `orchard runbook run`'s options
given after NAME (client/commands/runbook.py). client/cli.py builds the whole command line from them.
"""

from __future__ import annotations

import argparse
import functools
import typing
from typing import NoReturn

from activities.agents import PLUGINS
from activities.runners.docker import DEFAULT_IMAGE
from client.errors import UsageError
from client.follow import STRATEGY_FAILURE_PATIENCE
from client.render import OUTPUT_MODES
from orchard_common.config import DEFAULT_TASK_QUEUE, RUNBOOKS_DIR
from workflows.sdk.budget import BudgetPolicy
from workflows.sdk.models import BranchNamespace, ConflictPolicy, ImportPolicy, NetworkEgress, RunnerName, TaskDefaults


def _default(field: str) -> object:
    return TaskDefaults.model_fields[field].default


def connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Temporal server (default: the embedded dev server under $ORCHARD_HOME)")
    g.add_argument("--address", help="use this Temporal server (HOST:PORT); TEMPORAL_ADDRESS and Temporal profiles work too")
    g.add_argument("--namespace", help="Temporal namespace")
    g.add_argument("--config", help="orchard.yaml to use (default: orchard.yaml at the repository root)")


def credential_args(p: argparse.ArgumentParser) -> None:
    creds = p.add_argument_group(
        "credentials for the embedded worker (or --with-worker), also when `watch` restarts it; "
        "a named server's workers read their own environment"
    )
    creds.add_argument("--api-key", help="ANTHROPIC_API_KEY for claude-code, OPENAI_API_KEY for codex")
    creds.add_argument("--oauth-token", help="CLAUDE_CODE_OAUTH_TOKEN (claude-code subscription)")
    creds.add_argument("--base-url", help="ANTHROPIC_BASE_URL for claude-code; for codex, an OpenAI-compatible Responses endpoint")


def run_options(run: argparse.ArgumentParser) -> None:
    """What `orchard run` takes besides its prompt and strategy: agent, runner, output and server
    options (`orchard runbook run` takes them as its tasks' defaults)."""
    run.add_argument("--plugin", choices=sorted(PLUGINS), help=f"agent plugin (default: {_default('plugin')})")
    run.add_argument("--model", help="model for the agent")
    run.add_argument("--agent-command", help="command line of the agent for --plugin command; the prompt is on stdin, in ORCHARD_PROMPT and as {prompt}")
    run.add_argument("--repo", default=".",
                     help="git repository: a path (default: the current directory), or a git remote's URL the workers fetch from and "
                          "push the run's branches to")
    run.add_argument("--remote", metavar="NAME",
                     help="work on this remote of the repository (e.g. origin) instead of on the repository itself: workers on any host fetch it, push the "
                          "branches there, and this repository fetches them at the end")
    run.add_argument("--base-branch", help="branch the agents start from (default: the checked-out branch)")
    run.add_argument("--max-parallel", type=int, help="instances running at once (default: 4 per core, at most 32)")
    run.add_argument("--timeout", type=float, help=f"seconds an agent may run (default {_default('timeout'):g})")
    run.add_argument("--max-turns", type=int, help="agent turn limit, for plugins that have one")
    run.add_argument("--system-prompt", help="replace the agent's system prompt (plugins that support it)")
    run.add_argument("--append-system-prompt", help="add to the agent's system prompt")
    run.add_argument("--cli-arg", action="append", default=[], metavar="TOKEN", help="pass TOKEN to the agent CLI, before the prompt (repeatable)")
    run.add_argument("--cli-args", metavar="ARGS", help="pass these arguments (shell-split) to the agent CLI, after the --cli-arg tokens")
    runner = run.add_argument_group("where agents run")
    runner.add_argument(
        "--runner", choices=typing.get_args(RunnerName),
        help="sandbox: a bubblewrap sandbox per instance (its workspace and home writable, the host read-only, homes and "
        "$ORCHARD_HOME hidden, its own PID namespace); docker: a hardened container per instance; local: a process on the "
        "worker's host, NOT isolated (the agent can read and change anything the worker's user can); auto (default): sandbox "
        "where bubblewrap works, else docker for claude-code and codex when the engine and image are there, else local",
    )
    runner.add_argument("--docker-image", help=f"agent image for the docker runner (default {DEFAULT_IMAGE})")
    runner.add_argument(
        "--network-egress", choices=typing.get_args(NetworkEgress),
        help=f"sandbox and docker runner network: online (default {_default('network_egress')}), offline (loopback only), "
        "proxy (only the model API, relayed), host",
    )
    credential_args(run)
    budget_args(run)
    run.add_argument("--import-policy", choices=typing.get_args(ImportPolicy), help=f"default {_default('import_policy')}")
    run.add_argument("--import-conflict-policy", choices=typing.get_args(ConflictPolicy), help=f"default {_default('import_conflict_policy')}")
    run.add_argument("--output", choices=OUTPUT_MODES, help="default: tui on a terminal, else streaming")
    run.add_argument("--detach", action="store_true", help="start the run, print its id and return; it keeps going")
    run.add_argument("--runs", type=int, default=1, metavar="N", help="run the whole strategy N times, as N runs (exit code: the worst of theirs)")
    run.add_argument("--randomize-queue", action="store_true", default=None,
                     help="instances waiting for a slot (--max-parallel) start in a deterministic random order")
    run.add_argument("--branch-namespace", choices=typing.get_args(BranchNamespace),
                     help="hierarchical: orchard/<strategy>/<run_id>/k<hash> (default); flat: orchard/<run_id>-k<hash>")
    run.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                     help="a variable for the agents (repeatable): NAME=VALUE, or NAME from this shell; a credential-like NAME comes from the "
                          "worker's environment, by name")
    keep_waiting_arg(run)
    run.add_argument("--task-queue", help=f"task queue of the workers to use (named server; default {DEFAULT_TASK_QUEUE})")
    run.add_argument("--with-worker", action="store_true", help="with a named server: also run a worker in this process")
    run.add_argument("--ui-url", help="base URL of the Temporal UI of a named server, for links")
    connection_args(run)


def budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget (every strategy, loop and pipeline; also orchard.yaml's budget:)")
    g.add_argument("--max-cost", type=float, metavar="USD",
                   help="start no new instance once what the run spent plus what its running instances are expected to spend reaches USD "
                        "(the first runs alone to learn what one costs; the agents' own figures, tokens x list prices where they give none: estimated)")
    g.add_argument("--max-tokens", type=int, metavar="N", help="the same for the agents' input and output tokens")
    g.add_argument("--budget", metavar="NAME", dest="shared_budget",
                   help="a shared budget (`orchard budget set NAME`): each instance asks it for headroom before it starts, holds what it is "
                        "expected to spend, and tells it what it spent")
    g.add_argument("--budget-policy", choices=typing.get_args(BudgetPolicy),
                   help="at the budget: finish (default: running instances end, nothing new starts) or cancel (running instances are stopped too)")


def keep_waiting_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keep-waiting", action="store_true",
        help=f"follow a run whose strategy code fails until a fixed worker resumes it (default: exit 1 after {STRATEGY_FAILURE_PATIENCE:g}s)",
    )


def runbook_run_arguments(run: argparse.ArgumentParser) -> None:
    """What `orchard runbook run` takes besides NAME and the command's words."""
    run.add_argument("-i", dest="inputs", action="append", default=[], metavar="NAME=VALUE",
                     help="a pipeline input (repeatable); a JSON object or list is parsed")
    run_options(run)
    run.add_argument("--runbooks", metavar="DIR",
                     help=f"the runbooks' folder (default: runbooks: in orchard.yaml, else {RUNBOOKS_DIR}/ at the repository's root)")


class _OptionsAfterName(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `orchard runbook run --help`)")


@functools.cache
def runbook_run_options() -> tuple[argparse.ArgumentParser, dict[str, bool]]:
    """`orchard runbook run`'s own options, to read those given after NAME: the parser and, by
    option string, whether it takes a value (the same options as before NAME, one definition)."""
    parser = _OptionsAfterName(prog="orchard runbook run", add_help=False)
    runbook_run_arguments(parser)
    return parser, {flag: action.nargs != 0 for action in parser._actions for flag in action.option_strings}
