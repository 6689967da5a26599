"""`bug-finding`'s decisions against scripted activities: re-asking the discovery agent, when a
bug counts as confirmed, and the messages of every way it does not. The committed BUG_REPORT.md
of a real run is in test_review_strategies.py."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowFailureError

from tests.conftest import run_scripted
from tests.scripted import Script
from workflows.strategies.bug_finding import parse_bug

BUG = {"found": True, "title": "Greeting crashes on an empty name", "severity": "High", "root_cause": "no check for an empty name",
       "reproduction": "python app.py --name=", "files": "app.py"}
TARGET = {"target_area": "app.py"}


async def test_bug_finding_asks_again_then_confirms_the_bug_with_its_report(client, scripted_queue):
    # The first discovery answer is unusable, so the agent is asked again.
    script = Script(answers={"discover/1": "I looked around and something is odd.", "discover/2": f"Found one: {json.dumps(BUG)}"})
    result = await run_scripted(client, scripted_queue, "bug-finding", script, params={**TARGET, "bug_focus": "input handling"})
    assert result.status == "success" and result.instances_run == 3
    assert script.started_keys() == ["discover/1", "discover/2", "validate"]
    (validated,) = result.instances
    assert validated.key == "validate" and validated.metadata["confirmed"] is True
    assert validated.metadata["bug"] == {
        "title": "Greeting crashes on an empty name", "severity": "high", "root_cause": "no check for an empty name",
        "reproduction": "python app.py --name=", "files": ["app.py"]}
    assert validated.selection.reason == "high bug confirmed: Greeting crashes on an empty name"
    discovery = [script.call(f"discover/{n}").task for n in (1, 2)]
    assert all(d.import_policy == "never" and d.base_branch == "main" for d in discovery)  # read-only, nothing imported
    assert "Find one real bug in app.py of this repository. Focus on: input handling." in discovery[0].prompt
    assert "Your previous answer could not be used:\nI looked around and something is odd." in discovery[1].prompt
    # The validator starts again from the base, told the bug; its commit is checked for the report.
    validate = script.call("validate").task
    assert validate.base_branch == "main" and validate.import_policy == "auto"
    assert "Title: Greeting crashes on an empty name\nSeverity: high\nFiles: app.py" in validate.prompt
    assert [(c.command, c.commit) for c in script.checks] == [("test -f BUG_REPORT.md", validated.commit)]


@pytest.mark.parametrize(
    "validator, message",
    [
        ({"failures": {"validate": "agent exited with code 1: cannot run it"}}, "the validation agent failed: agent exited with code 1: cannot run it"),
        ({"unchanged": ["validate"]}, "the validation agent committed nothing"),
        ({"failing_checks": ["test -f BUG_REPORT.md"]}, "BUG_REPORT.md is not on orchard/bug-finding/"),
    ],
    ids=["fails", "commits-nothing", "no-report-file"],
)
async def test_a_bug_counts_only_with_its_report_committed(client, scripted_queue, validator, message):
    script = Script(answers={"discover/.*": json.dumps(BUG)}, **validator)
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "bug-finding", script, params=TARGET)
    assert err.value.cause.message.startswith("the bug 'Greeting crashes on an empty name' was not confirmed: ")
    assert message in err.value.cause.message


async def test_bug_finding_that_finds_nothing_fails_saying_so(client, scripted_queue):
    script = Script(answers={"discover/.*": '{"found": false}'})
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "bug-finding", script, params={"target_area": "the parser"})
    assert err.value.cause.message == "no bug found in the parser"
    assert script.started_keys() == ["discover/1"]  # no validator ran; the discovery agent imports nothing


async def test_a_discovery_agent_that_never_answers_usably_fails_the_run(client, scripted_queue):
    script = Script(answers={"discover/.*": "There might be something in there."})
    with pytest.raises(WorkflowFailureError) as err:
        await run_scripted(client, scripted_queue, "bug-finding", script, params={**TARGET, "discovery_attempts": 3})
    assert err.value.cause.message == "the discovery agent gave no usable bug report in 3 attempts"
    assert script.started_keys() == ["discover/1", "discover/2", "discover/3"]


def test_bug_reports_are_parsed_leniently():
    bug = parse_bug('I checked.\n{"title": "Crash", "severity": "HIGH", "files": "a.py, b.py"}')
    assert bug is not None and (bug.found, bug.severity, bug.files) == (True, "high", ["a.py", "b.py"])
    nothing = parse_bug('{"found": false}')
    assert nothing is not None and not nothing.found
    assert parse_bug('{"severity": "low"}') is None and parse_bug("no JSON here") is None
