"""What landed, where and how: a record in the user's repository, under refs/orchard/landed/<run_id>.

A finished run's workflow can take no update, signal, memo or search-attribute change, so the
record cannot live in Temporal without a new workflow whose worker every landing would need. The
landing happened in the user's repository, so the record lives there: a ref (not a branch) holding
a JSON blob, as prompts are kept (activities/git/prompts.py). It is written by compare-and-swap, so
two landings at once cannot lose one another; `orchard show` and `orchard list` read it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from activities.git.command import ZERO_OID, GitError, git, git_bytes

LANDED_REF = "refs/orchard/landed/"


class Landing(BaseModel):
    """One landing of a run's candidate."""

    candidate: int
    key: str
    branch: str
    commit: str
    """The candidate's commit that was landed."""
    onto: str
    how: str
    """merge (a fast-forward when it was one), squash or rebase."""
    before: str
    """Where `onto` was before."""
    after: str
    """Where `onto` is after: the commit that holds the candidate's change."""
    fast_forward: bool = False
    at: datetime
    by: str = ""


_LANDINGS = TypeAdapter(list[Landing])


def record_ref(run_id: str) -> str:
    return LANDED_REF + run_id


async def _read(repo: Path, run_id: str) -> tuple[str | None, list[Landing]]:
    blob = await git("rev-parse", "--verify", "--quiet", record_ref(run_id), cwd=repo, check=False)
    if not blob:
        return None, []
    return blob, _LANDINGS.validate_json(await git_bytes("cat-file", "blob", blob, cwd=repo))


async def landings(repo: Path, run_id: str) -> list[Landing]:
    """The run's landings in `repo`, oldest first (none when it has no record, or `repo` is not a repository)."""
    try:
        return (await _read(repo, run_id))[1]
    except (GitError, OSError, ValueError):
        return []


async def landed_runs(repo: Path) -> dict[str, list[Landing]]:
    """Every run with a record in `repo`, by run id."""
    try:
        listed = await git("for-each-ref", "--format=%(refname)", LANDED_REF, cwd=repo)
    except (GitError, OSError):
        return {}
    found = {}
    for ref in listed.splitlines():
        run_id = ref.removeprefix(LANDED_REF)
        found[run_id] = await landings(repo, run_id)
    return found


async def add_landing(repo: Path, run_id: str, landing: Landing) -> None:
    """Append `landing` to the run's record (compare-and-swap: a landing recorded meanwhile is kept)."""
    for _ in range(5):
        old, kept = await _read(repo, run_id)
        data = _LANDINGS.dump_json([*kept, landing], indent=1)
        blob = (await git_bytes("hash-object", "-w", "--stdin", cwd=repo, input=data)).decode().strip()
        try:
            await git("update-ref", "-m", f"orchard land {run_id}", record_ref(run_id), blob, old or ZERO_OID, cwd=repo)
            return
        except GitError:
            continue  # another landing of this run was recorded meanwhile: read it and append again
    raise GitError(("update-ref", record_ref(run_id)), 1, "the landing record kept changing; try again")


def landing_line(run_id: str, landing: Landing) -> str:
    how = "fast-forward" if landing.fast_forward else landing.how
    return (f"landed candidate {landing.candidate} ({landing.branch}) of run {run_id} onto {landing.onto} by {how}: "
            f"{landing.before[:12]}..{landing.after[:12]} at {landing.at:%Y-%m-%d %H:%M:%S} UTC" + (f" by {landing.by}" if landing.by else ""))


def as_json(found: list[Landing]) -> list[dict[str, object]]:
    return [json.loads(landing.model_dump_json()) for landing in found]
