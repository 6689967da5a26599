"""A scripted fake of the OpenAI Responses API, enough to drive the real Codex CLI offline.

The Codex CLI (`@openai/codex`, checked against 0.169.0) talks to a custom model provider with
`wire_api = "responses"` by POSTing to `{base_url}/responses` with `stream: true` and reading
server-sent events. Each POST is one model "turn": the CLI sends the whole conversation so far
(including the outputs of the tool calls it ran) and expects the assistant's next output items.
This fake answers each POST with the next `Turn` of a script, and records every request.

Tools the CLI advertises (read from the request's `tools` field):

* `exec_command` -- a `function` tool; arguments JSON `{"cmd": "<shell command>", "workdir": ...}`.
  Every model the CLI knows uses it ("unified exec"); it runs `cmd` under the user's shell.
* `apply_patch` -- a `custom` (freeform) tool whose raw `input` is a patch in Codex's own
  `*** Begin Patch` grammar. Only advertised for models in the CLI's bundled catalogue (for
  example `gpt-5.5`); with an unknown model name the CLI falls back to generic metadata, drops
  apply_patch and prints an `error` item warning about the missing metadata.

A resumed thread (`codex exec ... resume <thread_id> <prompt>`) is one more POST with the same
`session-id` / `thread-id` headers and `prompt_cache_key`, whose `input` replays the whole stored
history (tool calls and outputs included) followed by the new user message.

Usage::

    with FakeOpenAI(write_and_commit_script("hello.txt", "hi\\n", "Add hello")) as fake:
        run codex with a provider whose base_url is fake.base_url
        fake.requests[0].json["model"], fake.requests[0].headers["authorization"]

`FakeOpenAI(rate_limit=RateLimitWindow(20, after=2))` refuses every model request for 20 s after
the first two with OpenAI's 429 (`rate_limit_exceeded`, "Please try again in 20s.", `retry-after`
and `x-ratelimit-reset-*`); the CLI retries it, then reports "exceeded retry limit, last status:
429 Too Many Requests".

Stdlib only, so any test can import it without extra dependencies.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.fakes.rate_limit import RateLimitWindow, retry_after

__all__ = [
    "ApplyPatch",
    "Failure",
    "FakeOpenAI",
    "FunctionCall",
    "RecordedRequest",
    "ScriptEntry",
    "Shell",
    "Turn",
    "Usage",
    "add_file_patch",
    "failing_script",
    "write_and_commit_script",
]


# --------------------------------------------------------------------------------------------
# Script
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Token counts reported in `response.completed`.

    The CLI's `turn.completed` usage is the sum over the whole *thread*: every model call of this
    turn plus, after `codex exec resume`, those of the earlier runs. It reports no cost.
    """

    input_tokens: int = 100
    output_tokens: int = 20
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_input_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Shell:
    """An `exec_command` call: the CLI runs `cmd` in a shell (cwd = `workdir` or the turn's cwd)."""

    cmd: str
    workdir: str | None = None

    def item(self, call_id: str, item_id: str) -> dict[str, Any]:
        args: dict[str, Any] = {"cmd": self.cmd}
        if self.workdir is not None:
            args["workdir"] = self.workdir
        return FunctionCall("exec_command", args).item(call_id, item_id)


@dataclass(frozen=True)
class ApplyPatch:
    """An `apply_patch` call (a freeform custom tool: the patch text is sent raw, not as JSON)."""

    patch: str

    def item(self, call_id: str, item_id: str) -> dict[str, Any]:
        return {
            "type": "custom_tool_call",
            "id": item_id,
            "status": "completed",
            "call_id": call_id,
            "name": "apply_patch",
            "input": self.patch,
        }


@dataclass(frozen=True)
class FunctionCall:
    """Any other function tool, e.g. `FunctionCall("update_plan", {...})`."""

    name: str
    arguments: dict[str, Any]

    def item(self, call_id: str, item_id: str) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": item_id,
            "status": "completed",
            "call_id": call_id,
            "name": self.name,
            "arguments": json.dumps(self.arguments),
        }


ToolCall = Shell | ApplyPatch | FunctionCall


@dataclass(frozen=True)
class Turn:
    """One assistant response: optional reasoning summary, optional text, then tool calls.

    A turn with tool calls makes the CLI run them and POST again with their outputs; a turn
    with only text ends the agent's turn (the CLI then prints `turn.completed` and exits).
    """

    text: str | None = None
    calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    reasoning: str | None = None


@dataclass(frozen=True)
class Failure:
    """A scripted failure.

    `status` set: answer with that HTTP status and an OpenAI-style JSON error body. The CLI gives
    up at once on 4xx other than 429 (`turn.failed` with the body as message), but *retries*
    429 and 5xx with backoff (several seconds), so prefer 400 for fast tests.

    `status` None: answer 200 and stream `response.created` then `response.failed` carrying
    `{"code": code, "message": message}`. Whether the CLI retries depends on `code`; the default
    `invalid_prompt` is not retried.
    """

    message: str = "scripted failure"
    status: int | None = 400
    code: str = "invalid_prompt"
    error_type: str = "invalid_request_error"


ScriptEntry = Turn | Failure


# --------------------------------------------------------------------------------------------
# Ready-made scripts
# --------------------------------------------------------------------------------------------


def add_file_patch(path: str, content: str) -> str:
    """An apply_patch patch creating `path` (relative to the workspace) with `content`."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the grammar has one `+line` per line; a final newline is implied
    body = "".join(f"+{line}\n" for line in lines)
    return f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch\n"


def write_and_commit_script(
    path: str = "hello.txt",
    content: str = "Hello from the fake model\n",
    message: str = "Add hello.txt",
    *,
    via: str = "apply_patch",
    final_text: str = "I wrote the file and committed it.",
) -> list[ScriptEntry]:
    """The standard three turns: write a file, commit it, then say so.

    `via="apply_patch"` uses the apply_patch tool (the CLI reports a `file_change` item); it
    needs a model the CLI knows, e.g. `gpt-5.5`. `via="shell"` writes the file with a shell
    command instead and works with any model name.
    """
    if via == "apply_patch":
        write: ToolCall = ApplyPatch(add_file_patch(path, content))
    elif via == "shell":
        write = Shell(f"printf %s {_shell_quote(content)} > {_shell_quote(path)}")
    else:
        raise ValueError(f"via must be 'apply_patch' or 'shell', not {via!r}")
    commit = Shell(f"git add -A && git commit -q -m {_shell_quote(message)} && git log --oneline -1")
    return [
        Turn(reasoning="Create the file first.", text=f"Creating {path}.", calls=(write,), usage=Usage(1200, 60)),
        Turn(calls=(commit,), usage=Usage(1400, 40, cached_input_tokens=1024)),
        Turn(text=final_text, usage=Usage(1500, 15, cached_input_tokens=1280)),
    ]


def failing_script(message: str = "The fake model is overloaded", *, status: int | None = 400) -> list[ScriptEntry]:
    """A script whose first model call fails, so the agent run fails with `message` as reason."""
    return [Failure(message=message, status=status)]


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the CLI made. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None

    @property
    def bearer_token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model (for a POST /responses)."""
        tools = self.json.get("tools", []) if isinstance(self.json, dict) else []
        return [t.get("name") or t.get("type") for t in tools]


class FakeOpenAI:
    """A Responses API server on 127.0.0.1 serving `script` entries in order, one per POST.

    When the script runs out, further POSTs get an HTTP 400 "fake script exhausted" error so a
    test sees a failed run rather than a hang. `base_url` ends in `/v1`, as a provider's
    `base_url` should (the CLI appends `/responses`).
    """

    def __init__(
        self, script: list[ScriptEntry] | None = None, *, conversations: Callable[[str], list[ScriptEntry]] | None = None,
        rate_limit: RateLimitWindow | None = None,
    ) -> None:
        """Either one `script` served in order, or `conversations`: a function from a thread's
        user text (all user messages joined) to its own script, whose turn is the number of
        tool calls replayed in the request's input (so every turn but the last makes one call).
        The latter is stateless, so concurrent and resumed agents each get their own turns."""
        self.script = list(script or [])
        self.conversations = conversations
        self.requests: list[RecordedRequest] = []
        self.rate_limit = rate_limit
        self._lock = threading.Lock()
        self._next = 0
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- inspection --------------------------------------------------------------------------

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The POSTs to `/responses`, i.e. the model turns the CLI asked for."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.rstrip("/").endswith("/responses")]

    @property
    def served(self) -> int:
        """How many script entries have been used."""
        with self._lock:
            return self._next

    # -- internals ---------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _take(self) -> ScriptEntry | None:
        with self._lock:
            if self._next >= len(self.script):
                return None
            entry = self.script[self._next]
            self._next += 1
            return entry

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    def events_for(self, turn: Turn, model: str) -> list[tuple[str, dict[str, Any]]]:
        """The SSE events (name, payload) for one successful turn, in Responses API order."""
        response_id = self._id("resp")
        created_at = int(time.time())
        base = {"id": response_id, "object": "response", "created_at": created_at, "model": model}
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": {**base, "status": "in_progress", "output": []}}),
            ("response.in_progress", {"response": {**base, "status": "in_progress", "output": []}}),
        ]
        output: list[dict[str, Any]] = []

        def add(item: dict[str, Any], deltas: tuple[tuple[str, dict[str, Any]], ...] = ()) -> None:
            index = len(output)
            pending = {**item, "status": "in_progress"} if "status" in item else item
            events.append(("response.output_item.added", {"output_index": index, "item": pending}))
            events.extend((name, {"output_index": index, **payload}) for name, payload in deltas)
            events.append(("response.output_item.done", {"output_index": index, "item": item}))
            output.append(item)

        if turn.reasoning is not None:
            rid = self._id("rs")
            summary = {"type": "summary_text", "text": turn.reasoning}
            add(
                {"type": "reasoning", "id": rid, "summary": [summary]},
                (
                    ("response.reasoning_summary_part.added", {"item_id": rid, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                    ("response.reasoning_summary_text.delta", {"item_id": rid, "summary_index": 0, "delta": turn.reasoning}),
                    ("response.reasoning_summary_text.done", {"item_id": rid, "summary_index": 0, "text": turn.reasoning}),
                    ("response.reasoning_summary_part.done", {"item_id": rid, "summary_index": 0, "part": summary}),
                ),
            )
        if turn.text is not None:
            mid = self._id("msg")
            part = {"type": "output_text", "text": turn.text, "annotations": []}
            add(
                {"type": "message", "id": mid, "status": "completed", "role": "assistant", "content": [part]},
                (
                    ("response.content_part.added", {"item_id": mid, "content_index": 0, "part": {**part, "text": ""}}),
                    ("response.output_text.delta", {"item_id": mid, "content_index": 0, "delta": turn.text}),
                    ("response.output_text.done", {"item_id": mid, "content_index": 0, "text": turn.text}),
                    ("response.content_part.done", {"item_id": mid, "content_index": 0, "part": part}),
                ),
            )
        for call in turn.calls:
            add(call.item(self._id("call"), self._id("fc")))

        usage = turn.usage.to_json()
        events.append(("response.completed", {"response": {**base, "status": "completed", "output": output, "usage": usage}}))
        return events

    def failure_events(self, failure: Failure, model: str) -> list[tuple[str, dict[str, Any]]]:
        response_id = self._id("resp")
        base = {"id": response_id, "object": "response", "created_at": int(time.time()), "model": model}
        error = {"code": failure.code, "message": failure.message}
        return [
            ("response.created", {"response": {**base, "status": "in_progress", "output": []}}),
            ("response.failed", {"response": {**base, "status": "failed", "output": [], "error": error}}),
        ]


TOOL_CALL_TYPES = ("function_call", "custom_tool_call", "local_shell_call")


def _conversation_entry(body: dict[str, Any], conversations: Callable[[str], list[ScriptEntry]]) -> ScriptEntry | None:
    items = [i for i in body.get("input") or [] if isinstance(i, dict)]
    user_text = "\n".join(
        part.get("text", "")
        for i in items
        if i.get("role") == "user"
        for part in (i.get("content") or [])
        if isinstance(part, dict)
    )
    turn = sum(1 for i in items if i.get("type") in TOOL_CALL_TYPES)
    script = conversations(user_text)
    return script[turn] if turn < len(script) else None


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenAI/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are recorded in fake.requests; keep test output quiet

        def _read(self) -> RecordedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, parsed)
            fake._record(request)
            return request

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", fake._id("req"))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _error(self, status: int, message: str, error_type: str = "invalid_request_error", code: str | None = None) -> None:
            self._json(status, {"error": {"message": message, "type": error_type, "param": None, "code": code}})

        def do_GET(self) -> None:
            self._read()
            if self.path.rstrip("/").endswith("/models"):
                # Both shapes: OpenAI's `data` list and the Codex backend's `models` list.
                self._json(200, {"object": "list", "data": [], "models": []})
            else:
                self._error(404, f"fake: no GET {self.path}", code="not_found")

        def do_POST(self) -> None:
            request = self._read()
            if not self.path.split("?")[0].rstrip("/").endswith("/responses"):
                self._error(404, f"fake: no POST {self.path}", code="not_found")
                return
            body = request.json if isinstance(request.json, dict) else {}
            limited = fake.rate_limit.check() if fake.rate_limit is not None else None
            if limited is not None:
                wait = retry_after(limited)
                message = (f"Rate limit reached for {body.get('model', 'the model')} in organization org-fake on requests per min (RPM): "
                           f"Limit 50, Used 50, Requested 1. Please try again in {wait}s.")
                payload = {"error": {"message": message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
                data = json.dumps(payload).encode()
                self.send_response(429)
                for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("retry-after", wait),
                                    ("x-ratelimit-limit-requests", "50"), ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", f"{wait}s")):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                return
            entry = fake._take() if fake.conversations is None else _conversation_entry(body, fake.conversations)
            model = body.get("model", "")
            if entry is None:
                self._error(400, "fake script exhausted", code="fake_script_exhausted")
            elif isinstance(entry, Failure) and entry.status is not None:
                self._error(entry.status, entry.message, entry.error_type, entry.code)
            else:
                events = fake.failure_events(entry, model) if isinstance(entry, Failure) else fake.events_for(entry, model)
                sse = "".join(f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n" for name, payload in events)
                self._send(200, sse.encode(), "text/event-stream")

    return Handler
