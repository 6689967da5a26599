"""How a run tells its `notify:` targets (workflows/sdk/notify.py): one `notify` activity per event
and target, each event once, waited for before the run ends; a target that cannot be told never
fails the run."""

from __future__ import annotations

import asyncio
import shlex
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.sdk.notify import END_EVENTS, Notification, NotifyEvent, NotifyInput, NotifySettings

NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1), maximum_attempts=5)
NOTIFY_TIMEOUT = timedelta(seconds=60)


def answer_command(run_id: str, key: str, several: bool) -> str:
    return f"orchard answer {shlex.quote(run_id)} CHOICE" + (f" --question {shlex.quote(key)}" if several else "")


class Notifier:
    """The run's side: tells its targets, each event once, and waits for them before the run ends."""

    def __init__(self, settings: NotifySettings | None, run_id: str, strategy: str, repo: str):
        self._settings = settings or NotifySettings()
        self._run_id, self._strategy, self._repo = run_id, strategy, repo
        self._told: set[str] = set()
        self._pending: list[asyncio.Task[None]] = []

    @property
    def active(self) -> bool:
        return bool(self._settings.targets)

    def tell(self, event: NotifyEvent, once: str, **fields: Any) -> None:
        """Tell the targets that take `event`, unless `once` (the event's own key) was told already."""
        if not self.active or once in self._told or (self._settings.child_of and event in END_EVENTS):
            return
        self._told.add(once)
        ui = f"{self._settings.ui}{self._run_id}" if self._settings.ui else None
        notification = Notification(event=event, run_id=self._run_id, strategy=self._strategy, repository=self._repo, at=workflow.now(), ui_link=ui,
                                    parent_run_id=self._settings.child_of, **fields)
        for n, target in enumerate(self._settings.targets):
            if event in target.events:
                self._pending.append(asyncio.create_task(self._send(f"notify/{once}/{n}", NotifyInput(target=target, notification=notification))))

    @staticmethod
    async def _send(activity_id: str, inp: NotifyInput) -> None:
        try:
            await workflow.execute_activity("notify", inp, activity_id=activity_id, summary=f"tell {inp.notification.event}",
                                            start_to_close_timeout=NOTIFY_TIMEOUT, retry_policy=NOTIFY_RETRY)
        except Exception as e:  # noqa: BLE001 - a target that cannot be told never fails the run
            workflow.logger.warning("notification %s failed: %s", activity_id, e)

    async def drain(self) -> None:
        """Wait for what was told to be delivered (or given up on)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
