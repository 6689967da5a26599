"""Notifications (orchard.yaml's `notify:`): a command and a webhook on 127.0.0.1 are told, once
each, when a run asks a person, ends, fails, hits its budget or pauses for quota (scripted
activities, the real `notify` activity)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from tests.conftest import final_result, start_scripted
from tests.scripted import Script, until
from tests.workflows.runbooks.test_pipeline import bundle
from workflows.sdk.budget import Budget
from workflows.sdk.models import AnswerRequest
from workflows.sdk.notify import NotifySettings, NotifyTarget


class Webhook:
    """An HTTP server on 127.0.0.1 that records the JSON it is POSTed."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def _told(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _settings(tmp_path: Path, webhook: Webhook, **extra: Any) -> tuple[NotifySettings, Path]:
    log = tmp_path / "told.jsonl"
    # one write per notification: two commands may run at once (a question's, and the end's once it is answered)
    command = NotifyTarget(command=f"printf '%s\\n' \"$(cat)\" >> {log}", **extra)
    return NotifySettings(targets=[command, NotifyTarget(webhook=webhook.url, **extra)], ui="http://ui.example/namespaces/default/workflows/"), log


async def test_a_question_and_the_end_are_told_once_each_to_a_command_and_a_webhook(client, scripted_queue, tmp_path, webhook):
    settings, log = _settings(tmp_path, webhook)
    handle = await start_scripted(client, scripted_queue, "asking", Script(), run={"notify": settings})
    await until(lambda: len(_told(log)) == 1 and len(webhook.received) == 1)
    (asked,) = _told(log)
    assert asked == webhook.received[0]
    assert asked["event"] == "question" and asked["run_id"] == handle.id and asked["strategy"] == "asking"
    assert asked["question"]["choices"] == ["go", "stop"] and asked["answer_command"] == f"orchard answer {handle.id} CHOICE"
    assert asked["ui_link"] == f"http://ui.example/namespaces/default/workflows/{handle.id}" and asked["repository"] == "/scripted/repo"
    await handle.execute_update("answer", AnswerRequest(choice="go", by="alice"))
    await final_result(handle)
    told = _told(log)
    assert [t["event"] for t in told] == ["question", "ended"] and [t["event"] for t in webhook.received] == ["question", "ended"]
    assert told[1]["outcome"] == "success" and told[1]["cost_usd"] == 0.0


async def test_a_failure_a_budget_and_a_quota_pause_are_told(client, scripted_queue, tmp_path, webhook):
    settings, log = _settings(tmp_path, webhook, events=["failed", "budget", "quota"])
    with pytest.raises(WorkflowFailureError):
        await (await start_scripted(client, scripted_queue, "my-simple", Script(failures={"gen": "agent exited with code 1: boom"}),
                                    run={"notify": settings})).result()
    (failed,) = _told(log)
    assert failed["event"] == "failed" and failed["outcome"] == "failed" and "boom" in failed["error"]
    log.unlink()
    await final_result(await start_scripted(client, scripted_queue, "fan-out", Script(usage={"gen/.*": (1, 1, 1.0)}), params={"n": 3}, max_parallel=1,
                                            run={"notify": settings, "budget": Budget(max_cost=1.0)}))
    (budget,) = _told(log)
    assert budget["event"] == "budget" and budget["budget"] == "spent $1.00 of $1"
    log.unlink()
    await final_result(await start_scripted(client, scripted_queue, "fan-out", Script(limits={"gen/.*": [0.3]}), params={"n": 2},
                                            run={"notify": settings}))
    (quota,) = _told(log)  # two instances paused together: one pause, told once; the end is not asked for
    assert quota["event"] == "quota" and quota["quota_until"]


@pytest.mark.slow  # the notification is retried with backoff for about 30 s before the run gives up on it
async def test_a_target_that_cannot_be_told_never_fails_the_run(client, scripted_queue):
    settings = NotifySettings(targets=[NotifyTarget(command="exit 3", events=["ended"])])
    result = await final_result(await start_scripted(client, scripted_queue, "my-simple", Script(), run={"notify": settings}))
    assert result.status == "success"


def test_a_notify_entry_needs_a_command_or_a_webhook():
    with pytest.raises(ValueError, match="needs a command, a webhook, or both"):
        NotifyTarget()
    with pytest.raises(ValueError):
        NotifyTarget(webhook="file:///etc/passwd")


async def test_a_canceled_run_tells_its_end_once_with_outcome_canceled(client, scripted_queue, tmp_path, webhook):
    settings, log = _settings(tmp_path, webhook)
    handle = await start_scripted(client, scripted_queue, "asking", Script(), run={"notify": settings})
    await until(lambda: len(_told(log)) == 1 and len(webhook.received) == 1)  # it asks, then waits
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    told = _told(log)
    assert [t["event"] for t in told] == ["question", "ended"] and [t["event"] for t in webhook.received] == ["question", "ended"]
    assert told[1]["outcome"] == "canceled" and told[1] == webhook.received[1]


async def test_a_child_runs_question_is_told_and_only_its_parent_tells_the_end(client, scripted_queue, tmp_path, webhook):
    runbooks = bundle(tmp_path, '''
        [pipeline.build]
        inputs = []
        [[pipeline.build.phase]]
        name = "pick"
        run = { orchard = "best-of-n", prompt = "write it", n = 1, approve = true }
    ''', "build")
    settings, log = _settings(tmp_path, webhook)
    handle = await start_scripted(client, scripted_queue, "runbook", Script(), prompt="ops.build",
                                  params={"pipeline": "ops.pipeline.build", "runbooks": runbooks, "inputs": {}}, run={"notify": settings})
    await until(lambda: len(_told(log)) == 1 and len(webhook.received) == 1)
    (asked,) = _told(log)
    child = asked["run_id"]
    assert asked["event"] == "question" and child.startswith(f"{handle.id}.best-of-n.") and asked["parent_run_id"] == handle.id
    assert asked["answer_command"] == f"orchard answer {child} CHOICE"
    await client.get_workflow_handle(child).execute_update("answer", AnswerRequest(choice=asked["question"]["choices"][0], by="alice"))
    await final_result(handle)
    told = _told(log)
    assert [(t["event"], t["run_id"]) for t in told] == [("question", child), ("ended", handle.id)]  # the child's end is not told: its parent's is
    assert [(t["event"], t["run_id"]) for t in webhook.received] == [("question", child), ("ended", handle.id)]


async def test_a_webhook_url_from_the_workers_environment_stays_out_of_the_history(client, scripted_queue, webhook, monkeypatch):
    monkeypatch.setenv("ORCHARD_TEST_HOOK", webhook.url)
    settings = NotifySettings(targets=[NotifyTarget(webhook_env="ORCHARD_TEST_HOOK", events=["ended"])])
    handle = await start_scripted(client, scripted_queue, "my-simple", Script(), run={"notify": settings})
    await final_result(handle)
    assert [t["event"] for t in webhook.received] == ["ended"]
    history = "".join(base64.b64decode(data).decode(errors="replace") for data in re.findall(r'"data": "([^"]*)"', (await handle.fetch_history()).to_json()))
    assert "ORCHARD_TEST_HOOK" in history and webhook.url not in history and f":{webhook.server.server_address[1]}" not in history


def test_a_notify_entry_takes_a_webhook_or_the_variable_holding_one():
    with pytest.raises(ValueError, match="webhook or webhook_env, not both"):
        NotifyTarget(webhook="https://hooks.example/x", webhook_env="HOOK")
    with pytest.raises(ValueError):
        NotifyTarget(webhook_env="not a name")
    assert NotifyTarget(webhook_env="SLACK_WEBHOOK_URL").webhook_env == "SLACK_WEBHOOK_URL"
