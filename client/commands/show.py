"""`orchard show RUN` (a run's status and results) and `orchard show --experiment NAME` (which run
of a round-robin experiment used which variant)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.errors import EXIT_SUCCESS, UsageError
from client.experiments import print_rotation, rotation_state, run_outcomes
from client.landing.record import Landing, as_json, landing_line, landings
from client.render import instance_line, make_console, outcome_json, print_outcome
from client.repository import clone_here, open_repo
from client.runs import Target, find_run, target_for
from client.snapshots import Outcome, outcome_of, snapshot
from workflows.sdk.models import InstanceProgress, is_remote_repo


async def cmd_show(args: argparse.Namespace) -> int:
    if bool(args.run_id) == bool(args.experiment):
        raise UsageError("orchard show needs a RUN or --experiment NAME (not both)")
    target = await target_for(args.address, args.namespace, args.config)
    if args.experiment:
        return await _show_experiment(target, args)
    run = await find_run(target, args.run_id)
    desc, memo = run.desc, run.memo
    going: list[InstanceProgress] = []  # what still works while the run's answer is already in (shadows)
    heartbeats: dict[str, dict[str, Any]] = {}
    if run.running:
        snap = await snapshot(target.client, run.handle)
        progress, heartbeats = snap.progress, snap.heartbeats
        published = progress.published if progress else None
        outcome = Outcome(run_id=args.run_id, status="running", progress=progress, error="still running", result=published, early=published is not None)
        if published is not None and progress is not None:
            answered = {r.key for r in published.instances}
            going = [p for p in progress.instances if p.key not in answered]
    else:
        outcome = await outcome_of(run.handle)
    landed = await _landings(memo, args.run_id)
    if args.output == "json":
        data = outcome_json(outcome)
        data["landings"] = as_json(landed)
        data.update(strategy=desc.workflow_type, memo=memo, started=desc.start_time.isoformat() if desc.start_time else None)
        if going:
            data["still_going"] = [{**p.model_dump(mode="json"), "heartbeat": heartbeats.get(p.key)} for p in going]
        print(json.dumps(data))
        return EXIT_SUCCESS
    console = make_console()
    console.print(f"run {args.run_id}  strategy {desc.workflow_type}  repo {memo.get('repo')}  base {memo.get('base_branch')}")
    console.print(f"started {desc.start_time:%Y-%m-%d %H:%M:%S}  prompt: {str(memo.get('prompt', ''))[:200]}")
    print_outcome(console, outcome, target.ui_link(args.run_id), trail_rows=None)
    for landing in landed:
        console.print(landing_line(args.run_id, landing), markup=False, highlight=False)
    if going:
        console.print("still going beside the answer:")
        for p in going:
            console.print(f"  {instance_line(p, heartbeats.get(p.key))}")
    return EXIT_SUCCESS


async def _landings(memo: Mapping[str, Any], run_id: str) -> list[Landing]:
    """What `orchard land` landed of the run: the record in its repository (a run on a remote: in the clone here)."""
    repo = str(memo.get("repo") or "")
    if is_remote_repo(repo):
        clone = clone_here(repo)
        return await landings(clone.local, run_id) if clone is not None and clone.local is not None else []
    return await landings(Path(repo), run_id) if repo else []


async def _show_experiment(target: Target, args: argparse.Namespace) -> int:
    root = str(open_repo(args.repo))
    state = await rotation_state(target, root, args.experiment)
    if state is None:
        raise UsageError(f"no experiment {args.experiment!r} on {root}; start one with "
                         f"`orchard run --strategy round-robin -S experiment={args.experiment} -S variants=...`")
    print_rotation(state, await run_outcomes(target, [t.run_id for t in state.turns]), args.output)
    return EXIT_SUCCESS
