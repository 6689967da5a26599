"""`orchard pr RUN [--candidate K] [--remote origin]`: push a finished run's candidate branch to a
remote and open a pull request with the GitHub CLI (`gh`) when it is installed, else say how."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from activities.git.command import GitError, git
from client.errors import EXIT_FAILURE, EXIT_SUCCESS, UsageError
from client.landing.candidates import pick
from client.landing.finished import finished_run, git_said
from client.landing.pull_request import compare_url, pr_body, pr_title
from client.preflight import remotes_of
from client.runs import target_for


@git_said
async def cmd_pr(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await finished_run(target, args.run_id)
    chosen = pick(run.result, args.candidate)
    remotes = remotes_of(run.repo)
    if args.remote not in remotes:
        known = f"; its remotes: {', '.join(remotes)}" if remotes else "; add one with `git remote add`"
        raise UsageError(f"{run.repo} has no remote {args.remote!r}{known}")
    if not await git("rev-parse", "--verify", "--quiet", f"refs/heads/{chosen.branch}", cwd=run.repo, check=False):
        raise UsageError(f"{chosen.label} is gone from {run.repo} (pruned?): nothing to push")
    try:  # no force: a branch of that name on the remote that is not this one's past stays, and is said
        await git("push", "--quiet", "--", args.remote, f"refs/heads/{chosen.branch}:refs/heads/{chosen.branch}", cwd=run.repo)
    except GitError as e:
        raise UsageError(f"cannot push {chosen.branch} to {args.remote}: {' '.join(e.stderr.split())[:300]}") from None
    print(f"pushed {chosen.branch} to {args.remote}")
    prompt = await run.prompt_text()
    title, body = pr_title(prompt, chosen), pr_body(run.result, prompt, chosen, target.ui_link(run.run_id))
    gh = shutil.which("gh")
    create = ["pr", "create", "--head", chosen.branch, "--base", run.result.base_branch, "--title", title, "--body", body]
    if gh is None:
        where = compare_url(remotes[args.remote], run.result.base_branch, chosen.branch) or "on the remote's site"
        print(f"gh (the GitHub CLI) is not installed: open the pull request of {chosen.branch} into {run.result.base_branch} {where}, "
              "or install gh and run `orchard pr` again")
        return EXIT_SUCCESS
    done = subprocess.run([gh, *create], cwd=run.repo, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"orchard: gh pr create failed: {' '.join(done.stderr.split())[:300] or f'exit {done.returncode}'}", file=sys.stderr)
        return EXIT_FAILURE
    print(done.stdout.strip() or "pull request opened")
    return EXIT_SUCCESS
