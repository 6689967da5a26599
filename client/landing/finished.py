"""A finished run as diff, land and pr read it: its result, and the repository its branches are in here."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from activities.git.command import GitError
from activities.git.prompts import PromptMissing, expanded
from activities.secrets import redact
from client.errors import UsageError
from client.repository import clone_here, fetch_run_branches
from client.runs import FoundRun, Target, find_run
from client.snapshots import outcome_of
from workflows.sdk.models import RunResult, is_remote_repo


def git_said(command: Callable[[argparse.Namespace], Awaitable[int]]) -> Callable[[argparse.Namespace], Awaitable[int]]:
    """A command whose git failed says so in one line (exit 2), not in a traceback: a repository
    with no committer identity, a lock left by another git, a disk full."""
    @functools.wraps(command)
    async def said(args: argparse.Namespace) -> int:
        try:
            return await command(args)
        except GitError as e:
            raise UsageError(" ".join(str(e).split())) from None
    return said


PROMPT_SHOWN = 4000
"""Characters of a prompt a pull request's body quotes."""


@dataclass(frozen=True)
class FinishedRun:
    found: FoundRun
    result: RunResult
    repo: Path
    """The user's repository here that holds the run's branches."""

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def prompt(self) -> str:
        """The run's prompt as its memo shows it (redacted, its first 500 characters; a long one is a marker)."""
        return str(self.found.memo.get("prompt", ""))

    async def prompt_text(self, limit: int = PROMPT_SHOWN) -> str:
        """The prompt to show in a pull request or a commit: one kept by reference read from the
        repository (the memo holds its marker), cut at `limit` characters."""
        try:
            text = await expanded(self.repo, self.prompt)
        except (PromptMissing, GitError):
            text = self.prompt
        text = redact(text) or ""  # as the memo's is: a credential in this environment is not published
        return text if len(text) <= limit else text[:limit] + "\n…[cut]"


async def finished_run(target: Target, run_id: str) -> FinishedRun:
    """The run `run_id`, over (a running run's branches still change), with its results and repository."""
    found = await find_run(target, run_id)
    if found.running:
        raise UsageError(f"run {run_id} is still running; wait for it to end (orchard watch {run_id})")
    outcome = await outcome_of(found.handle)
    if outcome.result is None:
        raise UsageError(f"run {run_id} ended {outcome.status} with no results to take ({outcome.error})")
    repo = str(found.memo.get("repo") or "")
    if is_remote_repo(repo):
        clone = clone_here(repo)
        if clone is None or clone.local is None:
            raise UsageError(f"run {run_id} worked on the remote {repo}; run this in a clone of it (its branches are fetched there)")
        await fetch_run_branches(clone, run_id)
        return FinishedRun(found, outcome.result, clone.local)
    if not Path(repo).is_dir():
        raise UsageError(f"run {run_id}'s repository {repo} is not here (or no longer a git repository)")
    return FinishedRun(found, outcome.result, Path(repo))
