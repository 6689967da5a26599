"""A pull request's title and body, composed from a finished run: the prompt, how the candidate was
chosen, its score or checks, its verification, the cost, and the run's Temporal UI link. Pure."""

from __future__ import annotations

import re

from client.landing.candidates import Candidate, chosen_how, merit, verification
from workflows.sdk.models import RunResult

TITLE_CHARS = 72


def pr_title(prompt: str, chosen: Candidate) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "") or f"Orchard: {chosen.branch}"
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def pr_body(result: RunResult, prompt: str, chosen: Candidate, ui_link: str | None) -> str:
    r = chosen.result
    cost = f"${r.cost_usd:.4f}" + (" (estimated)" if r.cost_estimated else "") if r.cost_usd else "-"
    run_cost = f"${result.cost_usd:.4f}" + (" (estimated)" if result.cost_estimated else "") if result.cost_usd else "-"
    quoted = "\n".join(f"> {line}" for line in prompt.strip().splitlines()) or "> (no prompt)"
    lines = [
        f"Made by Orchard: run `{result.run_id}` ({result.strategy}), candidate {chosen.number} of {len(result.instances)}.",
        "",
        "### Prompt",
        quoted,
        "",
        "### This change",
        f"- branch: `{chosen.branch}` from `{result.base_branch}` at `{result.base_commit[:12]}`",
        f"- how it was chosen: {chosen_how(r) or '-'}",
        f"- score or checks: {merit(r)}",
        f"- verification: {verification(r)}",
        f"- agent: {' '.join(v for v in (r.plugin, r.model) if v) or '-'}",
        f"- changes: {r.files_changed} files, +{r.insertions}/-{r.deletions}",
        f"- cost: {cost} (the whole run: {run_cost}, {result.instances_run} instances)",
    ]
    if ui_link:
        lines.append(f"- the run in Temporal: {ui_link}")
    return "\n".join(lines) + "\n"


GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([^/]+)/([^/]+?)(?:\.git)?/?$")


def compare_url(remote_url: str, base: str, branch: str) -> str | None:
    """Where GitHub opens a pull request of `branch` into `base`, for a remote on github.com (else None)."""
    found = GITHUB.match(remote_url)
    return f"https://github.com/{found[1]}/{found[2]}/compare/{base}...{branch}?expand=1" if found else None
