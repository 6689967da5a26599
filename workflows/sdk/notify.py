"""Notifications: orchard.yaml's `notify:` (a command, a webhook URL, or both; several allowed),
told when a run asks a person, ends (canceled too), fails, hits its budget or pauses for quota. A child
run (a strategy another runs) tells its questions and quota pauses, never its end: its parent does.

Each event is told once per target, by a `notify` activity (retried as any activity is) with a
JSON payload: the run, its strategy and repository, the question and its choices with the exact
`orchard answer` command, the outcome, what it cost, the Temporal UI link. Built in the workflow,
which holds no credential; the activity redacts it all the same. A run with no targets schedules
nothing, so histories of runs without notifications are unchanged. Pure models (the sandbox shares
this module with every run); workflows/sdk/notifications.py tells them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NotifyEvent = Literal["question", "ended", "failed", "budget", "quota"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("question", "ended", "failed", "budget", "quota")
END_EVENTS: tuple[NotifyEvent, ...] = ("ended", "failed", "budget")
"""A run's end: a child run does not tell it (its parent tells its own)."""



class NotifyTarget(BaseModel):
    """One entry of `notify:`. The one definition of the setting: orchard.yaml fills it."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    """Run with the payload on its stdin (and ORCHARD_EVENT, ORCHARD_RUN_ID set), on the worker's host."""
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    """POSTed the payload as JSON. The URL is in the run's history: a secret one belongs in `webhook_env`."""
    webhook_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The name of a variable of the worker's environment holding the webhook's URL: the run's history
    holds only the name, as it does for credentials (a Slack or Teams URL is a secret)."""
    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    """The events told (default: all)."""

    @model_validator(mode="after")
    def _something(self) -> NotifyTarget:
        if not self.command and not self.webhook and not self.webhook_env:
            raise ValueError("a notify entry needs a command, a webhook, or both")
        if self.webhook and self.webhook_env:
            raise ValueError("a notify entry takes webhook or webhook_env, not both")
        return self


class NotifySettings(BaseModel):
    """What a run tells, and where (RunInput.notify)."""

    targets: list[NotifyTarget] = Field(default_factory=list)
    ui: str = ""
    """The Temporal UI's workflows link without the run's id (`http://host:8233/namespaces/default/workflows/`), when known."""
    child_of: str | None = None
    """A child run's settings (the parent's id): it tells its questions and quota pauses, not its end (the parent tells its own)."""


class Notification(BaseModel):
    """The payload a target gets."""

    event: NotifyEvent
    run_id: str
    strategy: str
    repository: str
    at: datetime
    parent_run_id: str | None = None
    """A child run's parent (a strategy run by another: best-of-n in a pipeline)."""
    outcome: str | None = None
    """success, partial, failed, budget, canceled (ended runs)."""
    error: str | None = None
    question: dict[str, Any] | None = None
    """key, text, choices, default, deadline."""
    answer_command: str | None = None
    """The exact `orchard answer` command (CHOICE to be replaced by one of the choices)."""
    cost_usd: float | None = None
    cost_estimated: bool = False
    budget: str | None = None
    quota_until: datetime | None = None
    ui_link: str | None = None


class NotifyInput(BaseModel):
    target: NotifyTarget
    notification: Notification
