"""What a replay's nondeterminism error means for the person who edited a strategy: which instance,
child strategy or timer the edited code added, removed or reordered, by the history's own events,
not the SDK's message about state machines."""

from __future__ import annotations

import re
from typing import Any

SAYS_WHAT = re.compile(r"(?:Nondeterminism error: )?(.*?)(?:$|\", source)")
ID_MISMATCH = re.compile(r"(Activity|Child workflow|Timer) (?:id|type) of scheduled event '([^']*)' does not match .* command '([^']*)'")
NO_COMMAND = re.compile(r"No command scheduled for event HistoryEvent\(id: (\d+)")
WRONG_MACHINE = re.compile(r"(Activity|Child workflow|Timer|Signal|Update|Marker)[\w ]* machine does not handle this event: "
                           r"HistoryEvent(?:\(id: | \{ event_id: )(\d+)")
DOING = {"Activity": "starts an instance (or another activity)", "Child workflow": "starts a child strategy",
         "Timer": "starts a timer (a sleep, a question's deadline)"}


def _activity(activity_id: str) -> str:
    kind, _, rest = activity_id.partition("/")
    return {"instance": f"instance {rest}", "verify": f"the verification {rest}", "rotation": f"the rotation turn {rest}"}.get(kind, f"activity {activity_id}")


def describe_event(events: list[dict[str, Any]], event_id: int) -> str:
    """What the history records at `event_id`, in a strategy author's words."""
    event = next((e for e in events if int(e.get("eventId", 0)) == event_id), None)
    if event is None:
        return f"event {event_id}"
    kind = event.get("eventType", "").removeprefix("EVENT_TYPE_")
    if kind == "ACTIVITY_TASK_SCHEDULED":
        attrs = event["activityTaskScheduledEventAttributes"]
        return _activity(attrs["activityId"]) if attrs["activityType"]["name"] != "resolve_base" else "resolving the base branch"
    if kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
        attrs = event["startChildWorkflowExecutionInitiatedEventAttributes"]
        return f"child strategy {attrs['workflowType']['name']} ({attrs['workflowId']})"
    if kind == "TIMER_STARTED":
        return "a timer (a sleep, a question's deadline)"
    if kind in ("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", "WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_FAILED",
                "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"):
        return "the run's ending"
    return kind.lower().replace("_", " ")


def explain(message: str, events: list[dict[str, Any]]) -> str:
    """One line: what the edited code does where the history records something else."""
    said = SAYS_WHAT.search(message)
    text = said.group(1) if said else message
    advice = "; keep runs in flight on the old code (let them finish, or branch with workflow.patched)"
    if found := ID_MISMATCH.search(text):
        kind, recorded, now = found.groups()
        name = _activity if kind == "Activity" else (lambda x: f"child strategy {x}" if kind == "Child workflow" else f"timer {x}")
        return f"the edited code starts {name(now)} where the history has {name(recorded)}: work before it was added, removed or reordered" + advice
    if found := NO_COMMAND.search(text):
        event_id = int(found.group(1))
        return (f"the edited code no longer does what the history records at event {event_id}, {describe_event(events, event_id)}: "
                "it was removed or reordered" + advice)
    if found := WRONG_MACHINE.search(text):
        kind, event_id = found.group(1), int(found.group(2))
        doing = DOING.get(kind, f"does something else ({kind.lower()})")
        where = describe_event(events, event_id)
        added = ": work was added after the last the history records" if where == "the run's ending" else ": work was added, removed or reordered before it"
        return f"the edited code {doing} where the history has {where} (event {event_id}){added}" + advice
    return text
