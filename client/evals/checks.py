"""The hidden check of one candidate: its commit's files in a fresh folder of the evaluation's own
(never the user's checkout, never a workspace an agent had), the task's hidden files beside them,
and the check command run there, in a bubblewrap sandbox without network when this host can make
one (activities/runners/sandbox/), else as a local process. The check runs the candidate's code:
the sandbox keeps that code from anything but its folder."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from activities.agents.base import AgentCommand
from activities.runners.local import ProcessOutcome, run_process
from activities.runners.sandbox import sandbox_problem
from activities.runners.sandbox.runner import run_in_sandbox
from activities.runners.site import AgentSite
from client.evals.tasks import EvalTask
from workflows.sdk.models import TaskSpec

HIDDEN_IN_CHECKOUT = ".orchard-eval-hidden"
"""Where the task's hidden files are put in the checkout; $ORCHARD_EVAL_HIDDEN names it."""
HIDDEN_VARIABLE = "ORCHARD_EVAL_HIDDEN"
TAIL_LINES = 3


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    detail: str
    """Why it did not pass: the check's exit and the end of what it said; empty when it passed."""


def sandbox_available() -> str | None:
    """Why the hidden checks cannot run in a sandbox here (None: they do)."""
    return sandbox_problem("offline")


async def check_commit(task: EvalTask, repo: Path, commit: str, folder: Path, timeout: float, sandboxed: bool) -> CheckOutcome:
    """The task's check on `commit` of `repo`, in `folder` (made anew; the log beside it)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=repo, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")  # no link or path leaves the folder
    if task.hidden is not None:
        shutil.copytree(task.hidden, folder / HIDDEN_IN_CHECKOUT)
    log = folder.with_name(folder.name + ".log")
    command = AgentCommand(argv=["bash", "-c", task.check], env={HIDDEN_VARIABLE: str(folder / HIDDEN_IN_CHECKOUT)})
    record = folder.with_name(folder.name + ".running.json")
    if sandboxed:
        spec = TaskSpec(prompt="", base_branch="", plugin="command", agent_command=task.check, runner="sandbox", network_egress="offline", timeout=timeout)
        home = folder.with_name(folder.name + ".home")
        site = AgentSite(workspace=folder, agent_home=home, objects=folder, forward_env=[], endpoints=[], on_line=_ignore, transcript=log,
                         record_path=record, leftovers=[])
        try:
            outcome = await run_in_sandbox(command, spec, site)  # made again if bubblewrap could not make it
        finally:
            shutil.rmtree(home, ignore_errors=True)
    else:
        outcome = await run_process(command, cwd=folder, timeout=timeout, on_line=_ignore, transcript=log, record_path=record)
    record.unlink(missing_ok=True)
    return _outcome(outcome, log, timeout)


def _ignore(line: str) -> None:
    pass


def _outcome(outcome: ProcessOutcome, log: Path, timeout: float) -> CheckOutcome:
    if outcome.timed_out:
        return CheckOutcome(False, f"the check timed out after {timeout:g}s")
    if outcome.exit_code == 0:
        return CheckOutcome(True, "")
    said = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.is_file() else []
    tail = " | ".join(said[-TAIL_LINES:])
    return CheckOutcome(False, f"the check exited {outcome.exit_code}" + (f": {tail}" if tail else ""))
