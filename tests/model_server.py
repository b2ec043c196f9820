"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests: each request is answered as the
test's ``respond`` function decides (an answer, an HTTP error with headers, a garbled body, or an answer held
back longer than the client waits), and every request is recorded with the time it arrived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the server sends: ``status`` with ``body`` (a JSON value, or raw bytes sent as they are) and
    ``headers``, after holding the answer back ``delay_s`` seconds."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Seen:
    """One request the server received: its JSON body and when it arrived (``time.monotonic()``)."""

    body: dict[str, Any]
    at: float

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def system(self) -> str:
        return next((m["content"] for m in self.body.get("messages", []) if m.get("role") == "system"), "")

    @property
    def user(self) -> str:
        return "\n".join(m["content"] for m in self.body.get("messages", []) if m.get("role") == "user")

    @property
    def wants_json(self) -> bool:
        return "response_format" in self.body


Respond = Callable[[Seen], Reply]


def completion(model: str, content: str | None, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    """A well-formed chat completion answering ``content``."""
    message = {"role": "assistant", "content": content}
    return Reply(
        200,
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """An HTTP error in the OpenAI error shape."""
    return Reply(status, {"error": {"message": message, "type": "server_error"}}, headers or {})


class ModelServer:
    """The server's state: the function answering requests (replaceable between requests) and what it saw."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.url = ""
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def _handler(state: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen = Seen(body=json.loads(raw or b"{}"), at=time.monotonic())
            state.record(seen)
            reply = state.respond(seen)
            if reply.delay_s and state.stopping.wait(reply.delay_s):
                return  # the server is stopping: drop the held-back answer
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def model_server(respond: Respond) -> Iterator[ModelServer]:
    """A :class:`ModelServer` listening on 127.0.0.1 (its ``url`` is the ``/v1`` base URL), stopped on exit."""
    state = ModelServer(respond)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="model-server", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
