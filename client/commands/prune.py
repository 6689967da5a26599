"""`orchard prune [RUN...] [--older-than 7d] [--keep-landed] [--yes]`: the Orchard branches of runs
that are over, the prompts they kept by reference, this host's mirrors of remotes no running run
uses, and what those runs left on this host (as `orchard clean` removes it). A dry run unless --yes.

Never a branch outside orchard/, never one checked out in any worktree, never one of a running run;
each branch is deleted by compare-and-swap (`git update-ref -d REF OLD`), so one that moved since it
was listed stays. Landing records (refs/orchard/landed/) stay: they say what happened."""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.git.command import GitError, git, git_now
from activities.git.prompts import prompt_refs
from activities.paths import orchard_home
from client.commands.clean import clean, run_folders
from client.errors import EXIT_SUCCESS, UsageError
from client.landing.finished import git_said
from client.landing.place import checked_out, checked_out_in
from client.landing.pruning import ORCHARD_BRANCHES, PrunePlan, RunState, plan_prune
from client.landing.record import LANDED_REF
from client.preflight import remotes_of
from client.repository import open_repo, run_repository
from client.runs import Target, target_for
from workflows.sdk.durations import parse_duration
from workflows.sdk.visibility import SA_OUTCOME, SA_REPO


async def _runs_of(target: Target, names: list[str]) -> dict[str, RunState]:
    """Every run Temporal knows on these repositories (a chain's runs as one: running if any runs)."""
    clause = " OR ".join(f'OrchardRepo = "{name}"' for name in names)
    found: dict[str, RunState] = {}
    async for wf in target.client.list_workflows(f"OrchardStrategy IS NOT NULL AND ({clause})"):
        memo = await wf.memo()
        running = wf.status == WorkflowExecutionStatus.RUNNING
        status = "running" if running else (wf.typed_search_attributes.get(SA_OUTCOME) or (wf.status.name.lower() if wf.status else "?"))
        earlier = found.get(wf.id)
        ended = max([t for t in (wf.close_time, earlier.ended if earlier else None) if t is not None], default=None)
        refs = tuple(dict.fromkeys([*(earlier.prompt_refs if earlier else ()), *prompt_refs(str(memo.get("prompt", "")))]))
        found[wf.id] = RunState(wf.id, running or bool(earlier and earlier.running), None if running else ended, status, refs)
    return found


async def _named(target: Target, run_id: str) -> RunState | None:
    """A run the user named that is not on this repository's list: what Temporal says of it (None: it forgot it)."""
    try:
        desc = await target.client.get_workflow_handle(run_id).describe()
    except RPCError as e:
        if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise
        return None
    running = desc.status == WorkflowExecutionStatus.RUNNING
    named = tuple(prompt_refs(str((await desc.memo()).get("prompt", ""))))
    return RunState(run_id, running, None if running else desc.close_time, desc.status.name.lower() if desc.status else "?", named)


def _branches(root: Path) -> dict[str, str]:
    listed = git_now("for-each-ref", "--format=%(refname) %(objectname)", ORCHARD_BRANCHES, cwd=root).stdout
    return {ref.removeprefix("refs/heads/"): oid for ref, _, oid in (line.partition(" ") for line in listed.splitlines() if line)}


def _mirrors(in_use: set[str], urls: set[str] | None, now: datetime, older_than: timedelta | None) -> dict[Path, str]:
    """This host's mirrors no running run uses (of `urls` only, when given), by their remote's URL."""
    found = {}
    base = orchard_home() / "mirrors"
    for mirror in sorted(base.glob("*.git")) if base.is_dir() else []:
        url = git_now("config", "remote.origin.url", cwd=mirror).stdout.strip()
        used = max((p.stat().st_mtime for p in (mirror / "FETCH_HEAD", mirror) if p.exists()), default=0.0)
        if url in in_use or (urls is not None and url not in urls):
            continue
        if older_than is not None and now - datetime.fromtimestamp(used, UTC) < older_than:
            continue
        found[mirror] = url
    return found


async def _running_repos(target: Target) -> set[str]:
    """The repositories running runs work on (a remote's URL names its mirror)."""
    running = target.client.list_workflows('ExecutionStatus="Running" AND OrchardStrategy IS NOT NULL')
    return {wf.typed_search_attributes.get(SA_REPO) or "" async for wf in running}


@git_said
async def cmd_prune(args: argparse.Namespace) -> int:
    try:
        older_than = timedelta(seconds=parse_duration(args.older_than)) if args.older_than else None
    except ValueError as e:
        raise UsageError(f"--older-than {e}") from None
    root = open_repo(args.repo)
    target = await target_for(args.address, args.namespace, args.config)
    names = [str(root), *(run_repository(str(root), remote).repo for remote in remotes_of(root))]
    runs = await _runs_of(target, names)
    for run_id in args.run_ids:
        if run_id not in runs and (state := await _named(target, run_id)) is not None:
            runs[run_id] = state
    now = datetime.now(UTC)
    branches = _branches(root)
    landed = {ref.removeprefix(LANDED_REF) for ref in git_now("for-each-ref", "--format=%(refname)", LANDED_REF, cwd=root).stdout.split()}
    plan = plan_prune(sorted(branches), runs, set(await checked_out(root)), now, older_than, args.keep_landed, landed, args.run_ids or None)
    plan.prompt_refs = [ref for ref in plan.prompt_refs if git_now("rev-parse", "--verify", "--quiet", ref, cwd=root).returncode == 0]
    urls = {u for u in names if u != str(root)} if args.run_ids else None
    mirrors = _mirrors(await _running_repos(target), urls, now, older_than)
    folders = {run_id: found for run_id in plan.runs if (found := run_folders(run_id).get(run_id))}
    if not args.yes:
        _say(plan, runs, mirrors, folders, "would remove")
        print("(a dry run: nothing was removed; pass --yes to remove it)")
        return EXIT_SUCCESS
    removed = await _remove(root, plan, branches)
    for mirror in mirrors:
        shutil.rmtree(mirror, ignore_errors=True)
    for run_id in folders:
        await clean(run_id, set())
    _say(removed, runs, mirrors, folders, "removed")
    return EXIT_SUCCESS


async def _remove(root: Path, plan: PrunePlan, oids: dict[str, str]) -> PrunePlan:
    """Delete what the plan says, each by compare-and-swap; what moved or was checked out meanwhile stays."""
    done = PrunePlan(kept=dict(plan.kept), runs=plan.runs)
    for branch, run_id in plan.branches.items():
        if await checked_out_in(root, branch) is not None:
            done.kept[branch] = "checked out"
            continue
        try:
            await git("update-ref", "-d", f"refs/heads/{branch}", oids[branch], cwd=root)
            done.branches[branch] = run_id
        except GitError:
            done.kept[branch] = "it moved since it was listed"
    for ref in plan.prompt_refs:
        try:
            await git("update-ref", "-d", ref, cwd=root)
            done.prompt_refs.append(ref)
        except GitError:
            continue  # gone meanwhile
    return done


def _say(plan: PrunePlan, runs: dict[str, RunState], mirrors: dict[Path, str], folders: dict[str, list[Path]], verb: str) -> None:
    lines = []
    for branch, run_id in plan.branches.items():
        state = runs.get(run_id)
        how = f"{state.status}, ended {state.ended:%Y-%m-%d %H:%M} UTC" if state and state.ended else "Temporal no longer knows it"
        lines.append(f"  branch {branch} (run {run_id}: {how})")
    lines += [f"  prompt {ref}" for ref in plan.prompt_refs]
    lines += [f"  mirror {mirror} ({url})" for mirror, url in mirrors.items()]
    lines += [f"  {folder}" for found in folders.values() for folder in found]
    print(f"{verb}: " + ("nothing" if not lines else f"{len(plan.branches)} branch(es), {len(plan.prompt_refs)} prompt(s), "
                         f"{len(mirrors)} mirror(s), {sum(len(f) for f in folders.values())} folder(s)"))
    for line in lines:
        print(line)
    for branch, why in plan.kept.items():
        print(f"  kept {branch}: {why}")
