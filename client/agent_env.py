"""`--env NAME[=VALUE]` and orchard.yaml's `agent_env:`: variables for the agents of a run.

A value given (or taken from this shell for a NAME alone) travels with the run, in its history;
a credential-like NAME (`*_API_KEY`, `*TOKEN*`, …) never does: the agent gets it from its worker's
environment, by name, and an instance whose worker lacks it fails saying so.
"""

from __future__ import annotations

import os

from client.errors import UsageError
from workflows.sdk.models import ENV_NAME, SECRET_NAME


def parse_agent_env(specs: list[str]) -> tuple[dict[str, str], list[str]]:
    """(values, names from the worker's environment) of NAME[=VALUE] items; later ones win."""
    values: dict[str, str] = {}
    from_worker: list[str] = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {spec!r}: {name!r} is not a variable name; use --env NAME or --env NAME=VALUE")
        secret = SECRET_NAME.search(name) is not None
        if secret and sep:
            raise UsageError(f"--env {name}=…: {name} looks like a credential, and its value would enter the run's history; "
                             f"set it in the worker's environment and pass --env {name}")
        values.pop(name, None)
        if name in from_worker:
            from_worker.remove(name)
        if secret:
            from_worker.append(name)
        elif sep:
            values[name] = value
        elif name in os.environ:
            values[name] = os.environ[name]
        else:
            raise UsageError(f"--env {name}: {name} is not set here; give its value (--env {name}=VALUE)")
    return values, from_worker
