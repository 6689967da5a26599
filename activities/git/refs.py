"""`resolve_base`: pin a run to the commit its base branch names when it starts."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.git.command import rev_parse
from workflows.sdk.models import ResolveInput


@activity.defn
async def resolve_base(inp: ResolveInput) -> str:
    commit = await rev_parse(inp.repo, inp.branch)
    if commit is None:
        raise ApplicationError(f"base branch {inp.branch!r} does not exist in {inp.repo}", type="BadInput", non_retryable=True)
    return commit
