"""`resolve_base`: pin a run to the commit its base branch names when it starts (a remote's:
as the remote has it now, fetched into this host's mirror)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.git.origin import open_origin
from workflows.sdk.models import ResolveInput


@activity.defn
async def resolve_base(inp: ResolveInput) -> str:
    commit = await (await open_origin(inp.repo)).resolve(inp.branch)
    if commit is None:
        raise ApplicationError(f"base branch {inp.branch!r} does not exist in {inp.repo}", type="BadInput", non_retryable=True)
    return commit
