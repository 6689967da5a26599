"""Pipeline runs on the real worker: real git, real commands, in the pipeline's own workspace."""

from __future__ import annotations

import textwrap
from pathlib import Path

from client.runbooks.registry import RunbookRegistry
from tests.conftest import git, run_strategy


def bundle(tmp_path: Path, text: str, pipeline: str) -> dict:
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "ops.toml").write_text(textwrap.dedent(text))
    registry = RunbookRegistry.load_directory(folder)
    return registry.bundle(f"ops.pipeline.{pipeline}").model_dump(mode="json")


async def test_phases_run_in_order_in_one_workspace_and_loop_back_until_the_tests_pass(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.fix]
        inputs = ["name"]
        publish = ["release"]

        [[pipeline.fix.phase]]
        name = "write"
        run = "echo 'attempt' >> notes.txt && echo wrote {name}"

        [[pipeline.fix.phase]]
        name = "verify"
        run = "test $(wc -l < notes.txt) -ge 2"
        on_fail = "write"

        [[pipeline.fix.phase]]
        name = "merge"
        strategy = "merge"

        [[pipeline.fix.phase]]
        name = "report"
        run = "echo 'merged after {outputs.write}'"

        [strategy.merge]
        checkpoint = "git rev-parse HEAD"
        [[strategy.merge.attempt]]
        name = "break"
        run = "echo broken > notes.txt && git commit -qam broken && false"
        rollback = "git reset --hard {checkpoint}"
        [[strategy.merge.attempt]]
        name = "publish"
        run = "git push -q origin HEAD:release"
    ''', "fix")
    git(repo, "branch", "release")
    result = await run_strategy(client, task_queue, "runbook", repo, prompt="ops.fix", params={"pipeline": "ops.pipeline.fix", "runbooks": runbooks, "inputs": {"name": "bug-7"}})
    (pipeline,) = result.instances
    assert pipeline.success, pipeline.error
    phases = [(p["phase"], p["ok"]) for p in pipeline.metadata["phases"]]
    assert phases == [("write", True), ("verify", False), ("write", True), ("verify", True), ("merge", True), ("report", True)]
    assert pipeline.metadata["outputs"]["report"] == "merged after wrote bug-7"
    branch = pipeline.branch_name
    assert branch == f"orchard/runbook/fix/{result.run_id}"
    assert git(repo, "show", f"{branch}:notes.txt") == "attempt\nattempt"  # the rollback undid the broken attempt's commit
    assert git(repo, "rev-parse", "release") == git(repo, "rev-parse", branch)  # published, as the pipeline declares
    assert pipeline.metadata["published"] == {"release": git(repo, "rev-parse", branch)}
    assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # the user's checkout untouched
