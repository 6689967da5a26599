"""`run_runbook_step` with real git and real commands: where a step's command runs."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.runbooks.steps import run_runbook_step
from tests.conftest import git
from workflows.runbooks.steps import StepInput


def step(repo, command: str, cwd: str = "", n: int = 1, start: str | None = None) -> StepInput:
    return StepInput(repo=str(repo), run_id="run_steps", key="pipeline", step=n, attempt_key=f"{n}.0", kind="run", label=f"phase p{n}",
                     command=command, cwd=cwd, branch="orchard/runbook/p/run_steps", start_commit=start or git(repo, "rev-parse", "main"),
                     branch_exists=start is not None)


@pytest.mark.parametrize("cwd", ["../..", "sub/../../..", "/etc", "out"])
async def test_a_cwd_that_leads_out_of_the_workspace_is_refused_and_runs_nothing(repo, orchard_home, tmp_path, cwd):
    """A phase's `cwd` may come from a value (`{name}` = `../..`), or lead through a link an earlier
    step left in the workspace: the command never runs outside it."""
    first = await ActivityEnvironment().run(run_runbook_step, step(repo, f"mkdir sub && ln -s {tmp_path} out"))
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(run_runbook_step, step(repo, f"touch {tmp_path}/ran-here && touch ran-here", cwd=cwd, n=2, start=first.commit))
    assert refused.value.non_retryable and "leads out of the pipeline's workspace" in refused.value.message
    assert not (tmp_path / "ran-here").exists()


async def test_what_a_step_left_uncommitted_is_its_commit_whatever_git_it_ran(repo, orchard_home):
    """`git rm`, `git mv` and a staged new file, none committed: the step's commit holds the tree they left."""
    out = await ActivityEnvironment().run(run_runbook_step, step(repo, "git rm -q README.md && git mv app.py main.py && echo n > new.txt && git add new.txt"))
    assert out.exit_code == 0 and out.changed, out.output_tail
    assert git(repo, "ls-tree", "--name-only", out.commit).split() == ["main.py", "new.txt"]
