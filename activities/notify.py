"""`notify`: tell one of orchard.yaml's `notify:` targets of a run's event (workflows/sdk/notify.py):
its command gets the JSON payload on stdin, its webhook a POST of it (a `webhook_env` target's URL is
read from this worker's environment, so the history never holds it). A failure raises, so the
activity is retried; the payload is redacted of any credential of this worker's first."""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.secrets import redact
from workflows.sdk.notify import NotifyInput

COMMAND_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 15.0


@activity.defn
async def notify(inp: NotifyInput) -> None:
    payload = redact(inp.notification.model_dump_json(exclude_none=True)) or ""
    if inp.target.command:
        await _run(inp.target.command, payload, inp)
    url = inp.target.webhook or _from_environment(inp.target.webhook_env)
    if url:
        await asyncio.to_thread(_post, url, payload)


def _from_environment(name: str | None) -> str | None:
    """The webhook URL in the worker's variable `name` (the run's history holds only the name)."""
    if name is None:
        return None
    url = os.environ.get(name, "")
    if not url.startswith(("http://", "https://")):
        said = "is not set" if not url else "does not hold an http(s) URL"
        raise ApplicationError(f"notify webhook_env: the worker's variable {name} {said}", non_retryable=True)
    return url


async def _run(command: str, payload: str, inp: NotifyInput) -> None:
    env = {**os.environ, "ORCHARD_EVENT": inp.notification.event, "ORCHARD_RUN_ID": inp.notification.run_id}
    proc = await asyncio.create_subprocess_shell(command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    try:
        _, err = await asyncio.wait_for(proc.communicate(payload.encode()), COMMAND_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ApplicationError(f"notify command timed out after {COMMAND_TIMEOUT:g}s: {command}") from None
    if proc.returncode != 0:
        tail = redact(err.decode(errors="replace").strip().splitlines()[-1] if err.strip() else "") or ""
        raise ApplicationError(f"notify command exited with code {proc.returncode}: {command}" + (f": {tail}" if tail else ""))


def _post(url: str, payload: str) -> None:
    request = urllib.request.Request(url, data=payload.encode(), method="POST",
                                     headers={"content-type": "application/json", "user-agent": "orchard-notify"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310 - the user's own http(s) URL
            response.read()
    except urllib.error.HTTPError as e:
        raise ApplicationError(f"notify webhook answered {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ApplicationError(f"notify webhook unreachable: {getattr(e, 'reason', e)}") from None
