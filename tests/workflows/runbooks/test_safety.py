"""`[safety]`: what it protects (pure checks), and a pipeline's command whose commit changes a
protected path refused on the real worker, its work undone, the next phase going on from before it."""

from __future__ import annotations

import pytest

from tests.conftest import final_result, git
from tests.workflows.runbooks.test_pipeline import bundle, start
from workflows.runbooks.model import Safety
from workflows.runbooks.safety import item_protection, protecting

GUARDED = Safety(protected=[".", ".git", ".oj", "main", "release/*"])


@pytest.mark.parametrize("value, entry", [
    (".", "."), ("/repo", "."), ("/repo/", "."), (".git", ".git"), ("/repo/.git/worktrees/x", ".git"), (".oj/logs/a.log", ".oj"),
    ("main", "main"), ("refs/heads/main", "main"), ("origin/main", "main"), ("release/2.0", "release/*"),
    ("logs/a.log", None), ("maintenance", None), ("/elsewhere/.git", None), ("", None), ("src/.gitignore", None),
])
def test_a_protected_path_covers_what_is_in_it_the_root_only_itself_and_a_ref_its_branch(value: str, entry: str | None) -> None:
    assert protecting(GUARDED, value, "/repo") == entry


def test_an_item_is_protected_when_it_or_one_of_its_fields_names_a_protected_path_or_ref() -> None:
    assert item_protection(GUARDED, {"id": 3, "branch": "main"}, "/repo") == ("main", "main")
    assert item_protection(GUARDED, "/repo/.oj/state", "/repo") == ("/repo/.oj/state", ".oj")
    assert item_protection(GUARDED, {"id": 3, "branch": "fix/3", "path": "wt/fix-3"}, "/repo") is None


@pytest.mark.slow
async def test_a_command_that_changes_a_protected_path_is_refused_and_its_work_undone(client, task_queue, repo, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.tidy]
        inputs = []
        [[pipeline.tidy.phase]]
        name = "wipe"
        run = "mkdir -p .oj && echo gone > .oj/state && echo kept > notes.txt"
        on_fail = "note"
        [[pipeline.tidy.phase]]
        name = "note"
        run = "test ! -e .oj/state && test ! -e notes.txt && echo fine > after.txt"

        [safety]
        protected = [".oj"]
    ''', "tidy")
    (pipeline,) = (await final_result(await start(client, task_queue, repo, runbooks, "tidy"))).instances
    wipe, note = pipeline.pipeline.phases
    assert not wipe.ok and "phase wipe changed .oj/state, which [safety] protects (protected = [.oj]); nothing it did was kept" in wipe.note
    assert note.ok and pipeline.success  # from where wipe started: neither of its files is there
    assert sorted(git(repo, "ls-tree", "-r", "--name-only", pipeline.branch_name).splitlines()) == ["README.md", "after.txt", "app.py"]
