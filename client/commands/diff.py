"""`orchard diff RUN [K [K2]] [--stat] [--output json]`: a finished run's candidates side by side
(files changed, +/-, verification, score or checks passed, agent and model), then each candidate's
diff against the run's base, or between two candidates, through git's pager and colours."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from activities.git.command import git
from client.errors import EXIT_SUCCESS, UsageError
from client.landing.candidates import Candidate, candidates, merit, pick, verification
from client.landing.finished import finished_run, git_said
from client.render import make_console
from client.runs import target_for
from client.tables import Column, FittedTable


async def _numstat(repo: Path, old: str, new: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in (await git("diff", "--numstat", "--no-renames", old, new, "--", cwd=repo)).splitlines():
        added, deleted, path = line.split("\t", 2)
        rows.append({"path": path, "insertions": int(added) if added.isdigit() else None, "deletions": int(deleted) if deleted.isdigit() else None})
    return rows


def _tip(c: Candidate) -> str:
    return f"refs/heads/{c.branch}"


async def _facts(repo: Path, base: str, c: Candidate) -> dict[str, object]:
    files = await _numstat(repo, base, _tip(c)) if await git("rev-parse", "--verify", "--quiet", _tip(c), cwd=repo, check=False) else None
    r = c.result
    return {
        "candidate": c.number, "key": r.key, "branch": c.branch, "status": r.status, "winner": r.winner,
        "files_changed": len(files) if files is not None else None,
        "insertions": sum(int(f["insertions"] or 0) for f in files or []), "deletions": sum(int(f["deletions"] or 0) for f in files or []),  # type: ignore[call-overload]
        "verification": verification(r), "merit": merit(r), "plugin": r.plugin, "model": r.model, "cost_usd": r.cost_usd,
        "files": files, "present": files is not None,
    }


def _table(rows: list[dict[str, object]]) -> FittedTable:
    return FittedTable([
        Column("", ["★" if row["winner"] else "" for row in rows]),
        Column("K", [str(row["candidate"]) for row in rows]),
        Column("branch", [str(row["branch"]) for row in rows], kind="branch"),
        Column("status", [str(row["status"]) for row in rows]),
        Column("files", [str(row["files_changed"]) if row["present"] else "gone" for row in rows]),
        Column("+/-", [f"+{row['insertions']}/-{row['deletions']}" if row["present"] else "-" for row in rows]),
        Column("verify", [str(row["verification"]) for row in rows]),
        Column("score/checks", [str(row["merit"]) for row in rows]),
        Column("agent", [" ".join(str(v) for v in (row["plugin"], row["model"]) if v) or "-" for row in rows], kind="text"),
    ])


def _paged(text: str, repo: Path) -> None:
    """`text` through git's pager (core.pager, GIT_PAGER, PAGER, less) when stdout is a terminal."""
    if not sys.stdout.isatty():
        sys.stdout.write(text)
        return
    pager = subprocess.run(["git", "var", "GIT_PAGER"], cwd=repo, capture_output=True, text=True).stdout.strip() or "less"
    if pager == "cat":
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    subprocess.run(pager, shell=True, cwd=repo, input=text, text=True, env={"LESS": "FRX", "LV": "-c", **os.environ})


@git_said
async def cmd_diff(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await finished_run(target, args.run_id)
    base = run.result.base_commit
    shown = [pick(run.result, k) for k in args.candidates] if args.candidates else candidates(run.result)
    if not shown:
        raise UsageError(f"run {run.run_id} has no candidates to compare (its results made no branch)")
    rows = [await _facts(run.repo, base, c) for c in shown]
    gone = [c for c, row in zip(shown, rows, strict=True) if not row["present"]]
    pairs = [(shown[0], shown[1])] if len(shown) == 2 and len(args.candidates) == 2 else []
    if args.output == "json":
        between = [{"from": a.number, "to": b.number, "files": await _numstat(run.repo, _tip(a), _tip(b))} for a, b in pairs if not gone]
        print(json.dumps({"run_id": run.run_id, "base_commit": base, "candidates": rows, "between": between}))
        return EXIT_SUCCESS
    colour = "always" if sys.stdout.isatty() else "never"
    parts = []
    for old, new, title in ([(_tip(a), _tip(b), f"{a.label} -> {b.label}") for a, b in pairs] if pairs else
                            [(base, _tip(c), f"{c.label} against the base {base[:12]}") for c in shown if c not in gone]):
        what = ["--stat"] if args.stat else ["--stat", "--patch"]
        parts.append(f"# {title}\n" + await git("-c", f"color.ui={colour}", "diff", f"--color={colour}", *what, old, new, "--", cwd=run.repo) + "\n")
    console = make_console()
    with console.capture() as table:
        console.print(_table(rows))
    notes = [f"{c.label}: its branch is gone (pruned?)\n" for c in gone]
    _paged(table.get() + "".join(notes) + "\n" + "\n".join(parts), run.repo)
    return EXIT_SUCCESS
