"""`orchard replay HISTORY|RUN`: replay a recorded history against the current strategy code: is the edit safe?"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.divergence import explain
from client.errors import EXIT_FAILURE, EXIT_SUCCESS
from client.runs import find_run, target_for
from orchard_common.sandbox import sandbox_runner
from orchard_common.strategy_loader import StrategyLoadError, load_module_spec, load_strategy
from workflows.strategies import BUILTIN_STRATEGIES


class ReplayDiverged(Exception):
    """The code makes different decisions than the history records; the message names where."""


def _started(history_json: str) -> dict[str, Any]:
    """The attributes of the history's first event: the run's start."""
    try:
        return json.loads(history_json)["events"][0]["workflowExecutionStartedEventAttributes"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise StrategyLoadError("not a Temporal history JSON (export one with `orchard history RUN -o FILE`)") from None


def workflow_type_of(history_json: str) -> str:
    try:
        return _started(history_json)["workflowType"]["name"]
    except (KeyError, TypeError):
        raise StrategyLoadError("not a Temporal history JSON (export one with `orchard history RUN -o FILE`)") from None


def _params_of(history_json: str) -> dict[str, Any]:
    """The strategy parameters the history's run started with (none readable: none)."""
    try:
        payload = _started(history_json)["input"]["payloads"][0]["data"]
        return dict(json.loads(base64.b64decode(payload)).get("params") or {})
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return {}


def _workflow_id_of(history_json: str, fallback: str) -> str:
    """The run's own id, which its children's ids begin with (`<run id>.<strategy>.k<hash>`): a
    replay under another id (a file's name) would see every child's id differ. Without children,
    the id makes no difference and `fallback` is taken."""
    try:
        for event in json.loads(history_json)["events"]:
            child = event.get("startChildWorkflowExecutionInitiatedEventAttributes")
            if child and child.get("workflowId"):
                return str(child["workflowId"]).split(".")[0]
    except (ValueError, KeyError, TypeError):
        pass
    return fallback


async def replay(history_json: str, workflow_id: str, spec: str | None) -> str:
    """Replays; returns a one-line report, raises ReplayDiverged on nondeterminism."""
    name = workflow_type_of(history_json)
    if spec is None and name not in BUILTIN_STRATEGIES:
        raise StrategyLoadError(f"the history is of strategy {name!r}, not a built-in; pass --strategy SPEC")
    strategy = load_strategy(spec or name)
    if strategy.name() != name:
        raise StrategyLoadError(f"the history is of strategy {name!r} but {spec} defines {strategy.name()!r}")
    for module in strategy.LAUNCH.worker_modules(_params_of(history_json)):  # e.g. a custom loop strategy the run used
        load_module_spec(module, "the run's module")
    history = WorkflowHistory.from_json(_workflow_id_of(history_json, workflow_id), history_json)
    replayer = Replayer(workflows=[strategy.workflow_class()], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        text = str(result.replay_failure)
        found = re.search(r'message: "(.*?)", source', text)
        raise ReplayDiverged(explain(found.group(1) if found else text, json.loads(history_json)["events"]))
    return f"replayed {len(history.events)} events of {workflow_id} ({name}): deterministic"


async def cmd_replay(args: argparse.Namespace) -> int:
    if Path(args.source).is_file():
        history_json, workflow_id = Path(args.source).read_text(), Path(args.source).stem
    else:
        target = await target_for(args.address, args.namespace, args.config)
        history = await (await find_run(target, args.source)).handle.fetch_history()
        history_json, workflow_id = history.to_json(), args.source
    try:
        message = await replay(history_json, workflow_id, args.strategy)
    except ReplayDiverged as e:
        print(f"orchard: nondeterminism: {e}", file=sys.stderr)
        return EXIT_FAILURE
    print(message)
    return EXIT_SUCCESS
