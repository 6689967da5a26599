"""`doc-review`'s decisions against scripted activities: each validator starts as soon as its
reviewer is done, what is gathered and composed, and what happens when a reviewer, a validator or
the composer falls short. The composed branch of a real run is in test_review_strategies.py."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError

from tests.conftest import run_scripted, start_scripted
from tests.scripted import Script, until

PAGES = [{"title": "Read me", "path": "README.md"}, {"title": "App", "path": "app.py", "slug": "app"}]


def raw(slug: str, n: int) -> str:
    return f"reports/doc-review/raw/REPORT_{slug}__r{n}.md"


async def test_doc_review_validates_each_report_at_once_and_composes_them_on_one_branch(client, scripted_queue):
    slow_reviewer = asyncio.Event()
    script = Script(holds={"review/read-me/1": slow_reviewer})
    handle = await start_scripted(client, scripted_queue, "doc-review", script, params={"pages_file": PAGES, "reviewers_per_page": 2})
    # The readme's first reviewer is still at work: the other validators must not wait for it.
    await until(lambda: {"end validate/app/1", "end validate/app/2", "end validate/read-me/2"} <= set(script.events))
    assert "start validate/read-me/1" not in script.events and "start gather" not in script.events
    slow_reviewer.set()
    result = await handle.result()

    assert result.status == "success" and result.instances_run == 4 + 4 + 2  # reviewers, validators, gather, composer
    final, *reports = result.instances
    assert final.key == "compose" and sorted(r.key for r in reports) == [
        "validate/app/1", "validate/app/2", "validate/read-me/1", "validate/read-me/2"]
    reported = [raw(slug, n) for slug in ("read-me", "app") for n in (1, 2)]
    assert sorted(final.metadata["reports"]) == sorted(reported)
    assert final.selection.reason == "reports/doc-review/REPORT.md composed from 4 of 4 validated reports"
    for r in reports:
        slug, n = r.metadata["page"], r.metadata["reviewer"]
        assert r.metadata["validated"] is True and r.metadata["report"] == raw(slug, n)
        review = script.call(f"review/{slug}/{n}")
        assert review.task.base_branch == "main" and f"Write your report to `{raw(slug, n)}`" in review.task.prompt
        assert script.call(r.key).task.base_branch == review.branch  # each validator starts from its reviewer's branch
        assert f"Refine the review report `{raw(slug, n)}` in place" in script.call(r.key).task.prompt
    # gather: a git command (no agent) from the base that takes each validated report from its commit.
    gather = script.call("gather").task
    assert gather.plugin == "command" and gather.base_branch == "main"
    assert sorted(gather.agent_command.split(" && ")[:-1]) == sorted(f"git checkout {r.commit} -- {r.metadata['report']}" for r in reports)
    compose = script.call("compose").task
    assert compose.base_branch == script.call("gather").branch
    assert all(f"- {path}\n" in compose.prompt for path in reported) and "`reports/doc-review/REPORT.md`" in compose.prompt
    checked = {(c.command, c.commit) for c in script.checks}
    assert checked == {(f"test -f {r.metadata['report']}", r.commit) for r in reports} | {("test -f reports/doc-review/REPORT.md", final.commit)}


async def test_doc_review_composes_what_was_validated_when_a_reviewer_fails(client, scripted_queue):
    script = Script(failures={"review/app/1": "agent exited with code 1: rate limited"})
    result = await run_scripted(client, scripted_queue, "doc-review", script, params={"pages_file": PAGES})
    final, *outcomes = result.instances
    assert result.status == "partial"
    assert final.metadata["reports"] == [raw("read-me", 1)]
    assert final.selection.reason == "reports/doc-review/REPORT.md composed from 1 of 2 validated reports"
    failed = next(r for r in outcomes if r.key == "review/app/1")
    assert not failed.success and "rate limited" in failed.error
    assert sorted(script.started_keys()) == ["compose", "gather", "review/app/1", "review/read-me/1", "validate/read-me/1"]
    # Only the validated report is gathered onto the composer's branch.
    validated = next(r for r in outcomes if r.key == "validate/read-me/1")
    assert script.call("gather").task.agent_command == (
        f"git checkout {validated.commit} -- {raw('read-me', 1)} && git commit -q -m 'doc-review: 1 validated reports'")


async def test_a_report_missing_from_its_validators_commit_is_left_out(client, scripted_queue):
    script = Script(failing_checks=[f"test -f {raw('app', 1)}"], unchanged=["review/read-me/1"])
    result = await run_scripted(client, scripted_queue, "doc-review", script, params={"pages_file": PAGES, "reviewers_per_page": 2})
    final, *outcomes = result.instances
    by_key = {r.key: r for r in outcomes}
    assert by_key["validate/app/1"].selection.ineligible == f"{raw('app', 1)} is not on the validator's commit"
    assert by_key["review/read-me/1"].selection.ineligible == "the reviewer committed no report"
    assert sorted(script.started_keys()) == [  # no validator for the reviewer who committed nothing
        "compose", "gather", "review/app/1", "review/app/2", "review/read-me/1", "review/read-me/2",
        "validate/app/1", "validate/app/2", "validate/read-me/2"]
    assert final.metadata["reports"] == [raw("read-me", 2), raw("app", 2)]
    assert final.selection.reason == "reports/doc-review/REPORT.md composed from 2 of 4 validated reports"
    assert result.status == "success"  # every agent succeeded; two reports just did not count


async def test_doc_review_fails_without_a_validated_report_or_a_composed_one(client, scripted_queue):
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "doc-review", Script(failures={"review/.*": "agent exited with code 1: offline"}),
                           params={"pages_file": PAGES})
    assert err.value.cause.message == (
        "no validated report (review/read-me/1: agent exited with code 1: offline; review/app/1: agent exited with code 1: offline)")
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "doc-review", Script(failing_checks=["test -f reports/doc-review/REPORT.md"]), params={"pages_file": PAGES})
    assert err.value.cause.message == "the composer did not commit reports/doc-review/REPORT.md"
