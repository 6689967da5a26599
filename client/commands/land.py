"""`orchard land RUN [--candidate K] [--onto BRANCH] [--how merge|squash|rebase] [--allow-protected]`:
a finished run's candidate onto a branch of the user's repository, nothing of theirs lost.

The order is the promise: refuse first (protected, dirty checkout), then make the landing commit
without touching any working tree (a conflict stops here, named), then move the branch by
compare-and-swap or a fast-forward in its checkout, then record what landed (client/landing/record.py).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from activities.git.command import is_ancestor, rev_parse
from client.errors import EXIT_FAILURE, EXIT_SUCCESS, UsageError
from client.landing import combine as combining
from client.landing.candidates import pick
from client.landing.finished import finished_run, git_said
from client.landing.place import Refused, checked_out_in, dirty_line, move_branch, uncommitted
from client.landing.pull_request import pr_title
from client.landing.record import Landing, add_landing, landing_line, landings
from client.runs import target_for
from workflows.sdk.models import is_protected_ref


@git_said
async def cmd_land(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await finished_run(target, args.run_id)
    chosen = pick(run.result, args.candidate)
    onto = args.onto or run.result.base_branch
    if is_protected_ref(onto) and not args.allow_protected:
        raise UsageError(f"{onto} is a protected branch; pass --allow-protected to land on it (or --onto another branch)")
    before = await rev_parse(run.repo, f"refs/heads/{onto}")
    if before is None:
        raise UsageError(f"{run.repo} has no branch {onto!r}; pass --onto an existing branch")
    commit = await rev_parse(run.repo, f"refs/heads/{chosen.branch}") or (chosen.result.commit and await rev_parse(run.repo, chosen.result.commit))
    if not commit:
        raise UsageError(f"{chosen.label} is gone from {run.repo} (pruned?): nothing to land")
    for landed in await landings(run.repo, run.run_id):
        if landed.commit == commit and landed.onto == onto and await is_ancestor(run.repo, landed.after, before):
            print(f"already landed: {landing_line(run.run_id, landed)}; nothing to do")
            return EXIT_SUCCESS
    worktree = await checked_out_in(run.repo, onto)
    if worktree is not None and (dirty := await uncommitted(worktree)):
        raise UsageError(dirty_line(onto, worktree, dirty))
    message = (f"Merge {chosen.branch} into {onto}" if args.how == "merge" else pr_title(await run.prompt_text(), chosen)) + \
        f"\n\nOrchard run {run.run_id}, candidate {chosen.number} ({chosen.branch}), landed by {args.how}."
    combined = await combining.combine(run.repo, before, commit, args.how, message)
    if combined.conflicts:
        print(f"orchard: {chosen.label} conflicts with {onto} in: {', '.join(combined.conflicts)}; nothing was changed "
              f"(merge it yourself: git merge {chosen.branch})", file=sys.stderr)
        return EXIT_FAILURE
    if combined.after is None:
        print(f"already landed: {onto} holds {chosen.label} ({commit[:12]}) already; nothing to do")
        return EXIT_SUCCESS
    try:
        moved_in = await move_branch(run.repo, onto, before, combined.after, f"orchard land {run.run_id} {chosen.branch} ({args.how})")
    except Refused as e:
        raise UsageError(str(e)) from None
    landing = Landing(candidate=chosen.number, key=chosen.result.key, branch=chosen.branch, commit=commit, onto=onto, how=args.how,
                      before=before, after=combined.after, fast_forward=combined.fast_forward, at=datetime.now(UTC), by=_user())
    await add_landing(run.repo, run.run_id, landing)
    print(landing_line(run.run_id, landing) + (f" (in the checkout {moved_in})" if moved_in else ""))
    return EXIT_SUCCESS


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
