"""A scripted fake of the Anthropic Messages API, good enough to drive the real Claude Code CLI.

    with FakeAnthropic(write_and_commit_script("hello.txt", "hi\\n", "Add hello.txt")) as fake:
        env = {**os.environ, **fake.env()}        # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, quiet vars
        subprocess.run(["claude", "--print", ..., "do it"], cwd=repo, env=env, stdin=DEVNULL)
        assert fake.main_requests[0].body["model"] == "claude-sonnet-4-5"

Stdlib only: a `ThreadingHTTPServer` on a free port of 127.0.0.1 in a daemon thread.

What the CLI (checked with @anthropic-ai/claude-code 2.1.197, --print) sends to ANTHROPIC_BASE_URL
-----------------------------------------------------------------------------------------------
* `HEAD /` once at startup: a connection warm-up. Answered 200 with no body.
* `POST /v1/messages?beta=true`, `"stream": true`, one per model turn, each with the whole
  conversation so far, the full tool set (`tools`), `system` as a list of text blocks, `thinking`
  enabled, `max_tokens` 32000/64000 by model. The key arrives as `x-api-key` (ANTHROPIC_API_KEY)
  or `authorization: Bearer ...` (ANTHROPIC_AUTH_TOKEN); also `anthropic-version: 2023-06-01`,
  `anthropic-beta: claude-code-20250219,...`, `x-claude-code-session-id: <session id>`.
* Nothing else: with QUIET_ENV set no request leaves for api.anthropic.com either.

Answered as well, for other versions and modes (interactive titles, compaction, quota probes):
* `POST /v1/messages/count_tokens`: `{"input_tokens": <len(body)/4>}`.
* `POST /v1/messages` without `"stream": true`: a complete message object.
* Anything else: 404 with an Anthropic-shaped `not_found_error`; recorded in `fake.requests`.

Telling the main conversation from side requests
------------------------------------------------
A *main* request is a `/v1/messages` call whose body has a non-empty `tools` list (and whose
system prompt does not open like a known helper prompt). The agent loop always sends its full
tool set; the CLI's helper calls (session titles, topic detection, bash-prefix checks, the
one-token quota probe) go to the small/fast model without tools. 2.1.197 in --print mode made
none in any run tried (plain, --resume, --max-turns, permission modes, a 195k-token context),
but if one comes it does not consume a script turn: it gets a short text answer (`{"title":
...}` when its system prompt asks for JSON) in the form it asked for, streaming or not.
Requests of sub-agents (the `Task` tool) do carry tools and count as main turns, so a script
that spawns a sub-agent must contain the sub-agent's turns in order.

Turns
-----
A `Turn` is one assistant message: optional text, then zero or more `ToolUse` blocks, with
usage numbers; `stop_reason` is `tool_use` when it has tool calls, else `end_turn`. A tool
input may be a callable taking the `RequestContext` of the request it answers, so a script can
build absolute paths from the working directory the CLI reports in its system prompt
("Primary working directory: ..."). That line is absent when the CLI runs with
--system-prompt (it replaces the environment section), so pass `FakeAnthropic(workspace=...)`
as the fallback there. An `ErrorTurn` answers with an HTTP error in Anthropic's JSON error shape
(`overloaded_error` 529 by default) for `times` consecutive main requests (None: for good),
which is how a test gets a failed agent run: the CLI retries 5xx/529 (`fake_env` sets
CLAUDE_CODE_MAX_RETRIES=1, so one retry after ~0.5 s instead of ten with backoff) but fails at
once on 4xx. Either way it prints an `is_error: true` result ("API Error: 400 <message>") and
exits 1.

`FakeAnthropic(rate_limit=RateLimitWindow(20, after=2))` refuses every main request for 20 s
after the first two with the API's 429 (`rate_limit_error`, `retry-after`, the
`anthropic-ratelimit-requests-*` headers); the CLI reports it as an `api_retry` event whose
`retry_delay_ms` is the `retry-after`, then a result with `api_error_status: 429`.

When the script runs out, main requests get a final text "[fake-anthropic] script exhausted"
(end_turn) and `fake.exhausted` counts them, so a test can assert the script lined up.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from tests.fakes.rate_limit import RateLimitWindow, retry_after

JsonDict = dict[str, Any]

FAKE_API_KEY = "sk-ant-fake-0000"

# Environment for the CLI that keeps all traffic on ANTHROPIC_BASE_URL. Without
# CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC the CLI calls api.anthropic.com directly (feature flags,
# /api/claude_cli/bootstrap, event logging, MCP registry) whatever the base URL; DISABLE_TELEMETRY
# alone still leaves /api/claude_cli/bootstrap.
QUIET_ENV: dict[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}

_CWD_RE = re.compile(r"Primary working directory: *(\S[^\n]*)")


@dataclass
class Usage:
    input_tokens: int = 100
    output_tokens: int = 20
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_dict(self) -> JsonDict:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass
class RequestContext:
    """What a scripted tool input can depend on: the request being answered."""

    body: JsonDict
    cwd: str | None  # from the system prompt, else FakeAnthropic(workspace=...)


ToolInput = JsonDict | Callable[[RequestContext], JsonDict]


@dataclass
class ToolUse:
    name: str
    input: ToolInput
    id: str | None = None  # default: toolu_fake_<turn>_<block>


@dataclass
class Turn:
    text: str | None = None
    tool_uses: list[ToolUse] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None  # default: tool_use if tool_uses else end_turn


@dataclass
class ErrorTurn:
    """An HTTP error in place of a turn, for `times` consecutive main requests (None: forever)."""

    status: int = 529
    error_type: str = "overloaded_error"
    message: str = "Overloaded"
    times: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers besides the usual (a 429's `retry-after`, `anthropic-ratelimit-*`)."""


ScriptItem = Turn | ErrorTurn
RequestKind = Literal["main", "side", "count_tokens", "other"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: JsonDict | None  # parsed JSON, or None when empty/not JSON
    kind: RequestKind
    turn_index: int | None = None  # index into the script, for main requests that consumed one

    @property
    def api_key(self) -> str | None:
        """The credential as sent: x-api-key, or the bearer token of Authorization."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ").strip() or None

    @property
    def system_text(self) -> str:
        return _system_text(self.body or {})


def _system_text(body: JsonDict) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    return ""


def _is_main(body: JsonDict) -> bool:
    if not body.get("tools"):
        return False
    # Helper prompts that might still carry tools are recognised by their opening line.
    head = _system_text(body)[:2000].lower()
    return not any(marker in head for marker in ("generate a concise", "session title", "analyze if this message"))


class FakeAnthropic:
    """The fake server; use as a context manager (or call start()/stop())."""

    def __init__(
        self,
        script: list[ScriptItem] | None = None,
        *,
        workspace: str | None = None,
        side_text: str = "OK",
        conversations: Callable[[str], list[ScriptItem]] | None = None,
        rate_limit: RateLimitWindow | None = None,
    ) -> None:
        """Either one `script` served in order to all main requests, or `conversations`: a
        function from a conversation's first user text to its own script, whose turn is the
        number of assistant messages so far. The latter is stateless, so concurrent agents (and
        retried or resumed ones) each get their own turns."""
        self.script = list(script or [])
        self.conversations = conversations
        self.rate_limit = rate_limit
        self.workspace = workspace
        self.side_text = side_text
        self.requests: list[RecordedRequest] = []
        self.exhausted = 0
        self._next = 0  # next script index
        self._error_served = 0  # how often the current ErrorTurn has been served
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, api_key: str = FAKE_API_KEY, *, bearer: bool = False) -> dict[str, str]:
        """Variables that point the CLI here; merge over os.environ. With bearer=True the key goes
        in ANTHROPIC_AUTH_TOKEN and arrives as `authorization: Bearer ...` instead of `x-api-key`
        (remove any ANTHROPIC_API_KEY inherited from os.environ then)."""
        return fake_env(self.base_url, api_key, bearer=bearer)

    # -- views for tests ---------------------------------------------------------------------
    @property
    def main_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "main"]

    @property
    def side_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "side"]

    @property
    def turns_served(self) -> int:
        return self._next

    # -- script ------------------------------------------------------------------------------
    def _take(self) -> tuple[int, ScriptItem] | None:
        """The script item for the next main request; ErrorTurns repeat `times` times."""
        with self._lock:
            if self._next >= len(self.script):
                self.exhausted += 1
                return None
            index, item = self._next, self.script[self._next]
            if isinstance(item, ErrorTurn):
                self._error_served += 1
                if item.times is not None and self._error_served >= item.times:
                    self._next += 1
                    self._error_served = 0
            else:
                self._next += 1
            return index, item

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def fake_env(base_url: str, api_key: str = FAKE_API_KEY, *, bearer: bool = False) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": base_url,
        ("ANTHROPIC_AUTH_TOKEN" if bearer else "ANTHROPIC_API_KEY"): api_key,
        "IS_SANDBOX": "1",  # root may use --dangerously-skip-permissions only with this set
        "CLAUDE_CODE_MAX_RETRIES": "1",  # an ErrorTurn of 5xx/529 fails after one retry, not ten
        **QUIET_ENV,
    }


# -- wire format ---------------------------------------------------------------------------------


def _message_id() -> str:
    return "msg_fake_" + uuid.uuid4().hex[:20]


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _render_blocks(turn: Turn, turn_index: int, ctx: RequestContext) -> list[JsonDict]:
    """The turn's content blocks as they appear in a complete (non-streaming) message."""
    blocks: list[JsonDict] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for n, tool in enumerate(turn.tool_uses):
        tool_input = tool.input(ctx) if callable(tool.input) else tool.input
        blocks.append({"type": "tool_use", "id": tool.id or f"toolu_fake_{turn_index}_{n}", "name": tool.name, "input": tool_input})
    return blocks


def _stop_reason(turn: Turn) -> str:
    return turn.stop_reason or ("tool_use" if turn.tool_uses else "end_turn")


def _sse_events(model: str, blocks: list[JsonDict], usage: Usage, stop_reason: str) -> Iterator[tuple[str, JsonDict]]:
    """The event sequence of Anthropic's streaming Messages API for one message."""
    start_usage = usage.as_dict() | {"output_tokens": 1}
    yield "message_start", {
        "type": "message_start",
        "message": {
            "id": _message_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        },
    }
    yield "ping", {"type": "ping"}
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            for piece in _chunks(block["text"], 40) if block["text"] else [""]:
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            # The real API opens with an empty partial_json, then sends the JSON text in pieces.
            for piece in ["", *_chunks(json.dumps(block["input"]), 64)]:
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage.as_dict(),
    }
    yield "message_stop", {"type": "message_stop"}


def _full_message(model: str, blocks: list[JsonDict], usage: Usage, stop_reason: str) -> JsonDict:
    return {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage.as_dict(),
    }


def _side_answer(body: JsonDict, default: str) -> str:
    system = _system_text(body).lower()
    if "json" in system and "title" in system:
        return json.dumps({"title": "Fake session"})
    if "json" in system:
        return "{}"
    return default


def _estimate_tokens(body: JsonDict) -> int:
    return max(1, len(json.dumps(body)) // 4)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The CLI drops keep-alive connections with a reset when it exits; that is not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streaming as the real API does

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> JsonDict | None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            parsed = json.loads(raw)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _send_json(self, status: int, payload: JsonDict, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: Iterator[tuple[str, JsonDict]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        self.end_headers()
        for name, data in events:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _send_error(self, status: int, error_type: str, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"x-should-retry": "true"} if status >= 500 or status == 429 else {}
        self._send_json(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers | (extra or {}))

    # -- routes ------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._record(None, "other")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(None, "other")
        self._send_error(404, "not_found_error", f"fake-anthropic has no GET {self.path}")

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self._record(body, "count_tokens")
            self._send_json(200, {"input_tokens": _estimate_tokens(body or {})})
        elif path == "/v1/messages" and body is not None:
            self._messages(body)
        else:
            self._record(body, "other")
            self._send_error(404, "not_found_error", f"fake-anthropic has no POST {self.path}")

    def _record(self, body: JsonDict | None, kind: RequestKind, turn_index: int | None = None) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.fake._record(RecordedRequest(self.command, self.path, headers, body, kind, turn_index))

    def _messages(self, body: JsonDict) -> None:
        model = str(body.get("model") or "claude-fake")
        stream = bool(body.get("stream"))
        if not _is_main(body):
            self._record(body, "side")
            blocks = [{"type": "text", "text": _side_answer(body, self.fake.side_text)}]
            self._reply(model, stream, blocks, Usage(input_tokens=_estimate_tokens(body), output_tokens=5), "end_turn")
            return
        limited = self.fake.rate_limit.check() if self.fake.rate_limit is not None else None
        if limited is not None:
            self._record(body, "main")
            self._rate_limited(limited)
            return
        taken = self.fake._take() if self.fake.conversations is None else _conversation_turn(body, self.fake.conversations)
        self._record(body, "main", taken[0] if taken else None)
        if taken is None:
            blocks = [{"type": "text", "text": "[fake-anthropic] script exhausted"}]
            self._reply(model, stream, blocks, Usage(), "end_turn")
            return
        index, item = taken
        if isinstance(item, ErrorTurn):
            self._send_error(item.status, item.error_type, item.message, item.headers)
            return
        match = _CWD_RE.search(_system_text(body))
        ctx = RequestContext(body=body, cwd=match.group(1).strip() if match else self.fake.workspace)
        self._reply(model, stream, _render_blocks(item, index, ctx), item.usage, _stop_reason(item))

    def _rate_limited(self, remaining: float) -> None:
        """The API's 429: its error shape and the headers that say when to come back."""
        reset = datetime.now(UTC) + timedelta(seconds=remaining)
        stamp = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"retry-after": retry_after(remaining), "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
                   "anthropic-ratelimit-requests-reset": stamp, "anthropic-ratelimit-tokens-reset": stamp}
        self._send_error(429, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute.", headers)

    def _reply(self, model: str, stream: bool, blocks: list[JsonDict], usage: Usage, stop_reason: str) -> None:
        if stream:
            self._send_sse(_sse_events(model, blocks, usage, stop_reason))
        else:
            self._send_json(200, _full_message(model, blocks, usage, stop_reason))


def _first_user_text(body: JsonDict) -> str:
    for message in body.get("messages") or []:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _conversation_turn(body: JsonDict, conversations: Callable[[str], list[ScriptItem]]) -> tuple[int, ScriptItem] | None:
    script = conversations(_first_user_text(body))
    index = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
    return (index, script[index]) if index < len(script) else None


# -- ready-made scripts ----------------------------------------------------------------------------


def _in_cwd(ctx: RequestContext, relative: str) -> str:
    if ctx.cwd is None:
        raise RuntimeError("fake-anthropic: no working directory in the system prompt; pass FakeAnthropic(workspace=...)")
    return f"{ctx.cwd.rstrip('/')}/{relative}"


def write_and_commit_script(
    relative_path: str = "hello.txt",
    content: str = "hello from the fake model\n",
    commit_message: str = "Add hello.txt",
    final_text: str = "Wrote and committed the file.",
) -> list[ScriptItem]:
    """Turn 1: Write the file (absolute path in the CLI's working directory); turn 2: Bash
    `git add -A && git commit -m ...`; turn 3: final text."""
    quoted = "'" + commit_message.replace("'", "'\\''") + "'"
    return [
        Turn(
            text=f"I'll create {relative_path}.",
            tool_uses=[ToolUse("Write", lambda ctx: {"file_path": _in_cwd(ctx, relative_path), "content": content})],
            usage=Usage(input_tokens=1200, output_tokens=60),
        ),
        Turn(
            tool_uses=[ToolUse("Bash", {"command": f"git add -A && git commit -m {quoted}", "description": "Commit the new file"})],
            usage=Usage(input_tokens=1300, output_tokens=40),
        ),
        Turn(text=final_text, usage=Usage(input_tokens=1400, output_tokens=15)),
    ]


def error_script(status: int = 400, error_type: str = "invalid_request_error", message: str = "fake-anthropic: scripted failure") -> list[ScriptItem]:
    """A run that fails on its first model call. 4xx errors are not retried by the CLI, so the
    run ends at once with is_error and the message in the result line."""
    return [ErrorTurn(status=status, error_type=error_type, message=message)]
