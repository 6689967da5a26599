"""A run on a git remote, from one worker host: the host's mirror, fetched once per commit it
lacks, branches pushed with a lease, prompts by reference through the remote (file:// remotes;
tests/e2e/test_hosts.py does it over git:// with three hosts)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.git.branch_import import ImportRefused, import_branch
from activities.git.origin import mirror_path, open_origin
from activities.git.prompts import PROMPT_INLINE_BYTES, by_reference, expanded, prompt_refs
from activities.instance import run_instance
from activities.workspaces.removals import settled
from tests.conftest import DEMO_AGENT, git, make_repo
from workflows.sdk.models import InstanceInput, TaskSpec, instance_branch, is_remote_repo


@pytest.fixture
def remote(tmp_path) -> tuple[str, Path]:
    """A bare repository as the run's remote: (its URL, its path)."""
    git(tmp_path, "clone", "-q", "--bare", str(make_repo(tmp_path / "source")), "remote.git")
    return (tmp_path / "remote.git").as_uri(), tmp_path / "remote.git"


def fetches(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "into this host's mirror" in r.getMessage()]


def instance(url: str, key: str, **task) -> InstanceInput:
    spec = TaskSpec(prompt=task.pop("prompt", "add a greeting"), base_branch="main", agent_command=DEMO_AGENT, **task)
    return InstanceInput(repo=url, run_id="run_r1", strategy="simple", key=key, branch=instance_branch("simple", "run_r1", key), task=spec)


def test_urls_are_remotes_and_paths_are_not():
    for url in ("git://127.0.0.1:9418/p.git", "https://git.example/p.git", "ssh://git@host/p", "file:///srv/p.git", "git@github.com:team/app.git"):
        assert is_remote_repo(url), url
    for path in ("/home/me/app", "relative/app", "C:app", "./a:b"):
        assert not is_remote_repo(path), path


async def test_instances_on_a_remote_push_their_branches_and_the_host_fetches_the_base_once(remote, orchard_home, caplog):
    url, bare = remote
    caplog.set_level(logging.INFO, logger="activities.git.origin")
    results = await asyncio.gather(*(ActivityEnvironment().run(run_instance, instance(url, f"gen/{i}")) for i in range(3)))
    assert all(r.success and r.has_changes for r in results), [r.error for r in results]
    for r in results:
        assert git(bare, "rev-parse", r.branch_name) == r.commit  # on the remote
        assert git(bare, "rev-parse", f"{r.commit}^") == git(bare, "rev-parse", "main")
    assert fetches(caplog) == [f"fetched {url} into this host's mirror {mirror_path(url)} (a new mirror)"]  # three instances, one fetch
    assert git(mirror_path(url), "config", "remote.origin.url") == url
    await settled()  # the workspaces are removed after the results
    assert not list((orchard_home / "workspaces").glob("*/*"))


async def test_a_branch_another_host_pushed_is_fetched_when_asked_for(remote, orchard_home, tmp_path, caplog):
    url, bare = remote
    origin = await open_origin(url)
    elsewhere = make_repo(tmp_path / "elsewhere", {"other.txt": "from another host\n"})
    git(elsewhere, "push", "-q", "--force", url, "main:refs/heads/orchard/simple/run_x/k1")  # unrelated history: objects the mirror lacks
    caplog.set_level(logging.INFO, logger="activities.git.origin")
    commit = await origin.resolve("orchard/simple/run_x/k1")
    assert commit == git(bare, "rev-parse", "orchard/simple/run_x/k1")
    assert git(Path(origin.read), "cat-file", "-p", f"{commit}:other.txt") == "from another host"
    assert len(fetches(caplog)) == 1
    assert await origin.resolve(commit) == commit and len(fetches(caplog)) == 1  # held now: no fetch
    git(elsewhere, "commit", "-q", "--allow-empty", "-m", "moved")
    git(elsewhere, "push", "-q", url, "main:refs/heads/main", "--force")
    assert await origin.resolve("main") == git(elsewhere, "rev-parse", "HEAD")  # a branch as the remote has it now


async def test_the_conflict_policies_and_protected_refs_hold_on_a_remote(remote, orchard_home):
    url, bare = remote
    taken = instance_branch("simple", "run_r1", "gen/1")
    git(bare, "branch", taken, "main")
    failed = await ActivityEnvironment().run(run_instance, instance(url, "gen/1"))
    assert not failed.success and failed.error_type == "import" and "already exists" in failed.error
    suffixed = await ActivityEnvironment().run(run_instance, instance(url, "gen/1", import_conflict_policy="suffix", prompt="other"))
    assert suffixed.branch_name == f"{taken}-2" and git(bare, "rev-parse", suffixed.branch_name) == suffixed.commit
    overwritten = await ActivityEnvironment().run(run_instance, instance(url, "gen/1", import_conflict_policy="overwrite", prompt="third"))
    assert overwritten.branch_name == taken and git(bare, "rev-parse", taken) == overwritten.commit
    origin = await open_origin(url)
    main = git(bare, "rev-parse", "main")
    for branch, refused in (("main", "the protected branch 'main'"), ("release/1.0", "the protected branch 'release/1.0'"),
                            ("feature/x", "only branches under orchard/")):
        with pytest.raises(ImportRefused, match=refused):
            await import_branch(origin, Path(origin.read), overwritten.commit, branch, "overwrite")
    assert git(bare, "rev-parse", "main") == main


async def test_a_remote_that_refuses_the_branch_fails_the_import_with_its_reason(remote, orchard_home):
    url, bare = remote
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'orchard/ branches are not allowed here' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = await ActivityEnvironment().run(run_instance, instance(url, "gen/1"))
    assert not result.success and result.error_type == "import"
    assert "refused refs/heads/orchard/simple/run_r1/k" in result.error and "pre-receive hook declined" in result.error
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/orchard/") == ""


async def test_two_hosts_creating_one_branch_at_once_never_overwrite_each_other(remote, orchard_home, tmp_path):
    url, bare = remote
    commits = []
    for name in ("one", "two"):
        work = tmp_path / name
        git(tmp_path, "clone", "-q", url, str(work))
        git(work, "commit", "-q", "--allow-empty", "-m", name)
        commits.append((work, git(work, "rev-parse", "HEAD")))
    origin = await open_origin(url)
    won = await asyncio.gather(*(origin.set_branch("orchard/x/run/k1", commit, None, work / ".git") for work, commit in commits))
    assert sorted(won) == [False, True]
    winner = commits[won.index(True)][1]
    assert git(bare, "rev-parse", "orchard/x/run/k1") == winner
    loser_work, loser = commits[won.index(False)]
    assert await origin.set_branch("orchard/x/run/k1", loser, "0" * 39 + "1", loser_work / ".git") is False  # a stale lease moves nothing
    assert git(bare, "rev-parse", "orchard/x/run/k1") == winner


async def test_a_long_prompt_goes_to_the_remote_by_reference_and_a_host_reads_it(remote, orchard_home):
    url, bare = remote
    await open_origin(url)  # the mirror exists before the prompt is pushed: reading it must fetch
    prompt = "Refactor.\n" + "z" * PROMPT_INLINE_BYTES
    marker = await by_reference(url, prompt)
    assert marker.startswith("[orchard prompt sha256:")
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/orchard/prompts/").startswith("refs/orchard/prompts/")
    origin = await open_origin(url, *prompt_refs(f"Score this.\n{marker}"))
    assert await expanded(origin.read, f"Score this.\n{marker}") == f"Score this.\n{prompt}"
