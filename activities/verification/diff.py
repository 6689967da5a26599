"""`commit_diff`: the changes of a commit against the run's base, for an agent's prompt (a judge's)."""

from __future__ import annotations

from temporalio import activity

from activities.git.command import git_bytes
from activities.git.origin import open_origin
from activities.secrets import redact
from workflows.sdk.models import DiffInput


@activity.defn
async def commit_diff(inp: DiffInput) -> str:
    """`git diff BASE COMMIT` (a stat, then the patch; no external diff or text conversion: the
    commit is an agent's), credentials redacted, cut to `limit` characters and saying so."""
    origin = await open_origin(inp.repo, inp.base, inp.commit)
    shown = await git_bytes("-c", "core.quotePath=false", "diff", "--no-ext-diff", "--no-textconv", "--no-color", "--stat", "--patch",
                            inp.base, inp.commit, "--", cwd=origin.read)
    text = redact(shown.decode(errors="replace")) or ""
    if len(text) > inp.limit:
        text = text[: inp.limit] + f"\n[... the diff is cut here: {len(text) - inp.limit:,} more characters]\n"
    return text
