"""Test doubles for code that sends webhooks (tests only, never wired into a service).

    endpoints = InMemoryEndpoints()
    with WebhookReceiver() as receiver:
        receiver.reply_with(Reply(500), Reply(429, {"Retry-After": "60"}))  # then 200s
        endpoint = endpoints.add(receiver.url)
        ...
        Webhook(endpoint.secrets[0]).verify(receiver.received[0].body,
                                            receiver.received[0].headers)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from shared.ids import new_id
from shared.webhooks.endpoints import Endpoint
from shared.webhooks.signing import generate_secret


class InMemoryEndpoints:
    """An `EndpointDirectory` in a dict."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.disabled_reasons: dict[str, str] = {}

    def add(self, url: str, secrets: list[str] | None = None) -> Endpoint:
        endpoint = Endpoint(new_id("whe"), url, secrets or [generate_secret()])
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def get(self, endpoint_id: str) -> Endpoint | None:
        return self.endpoints.get(endpoint_id)

    def disable(self, endpoint_id: str, reason: str) -> None:
        self.endpoints[endpoint_id] = replace(self.endpoints[endpoint_id], disabled=True)
        self.disabled_reasons[endpoint_id] = reason


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke a timeout)


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic clock)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers from a script
    (`reply_with`), then with 200 once the script is spent."""

    def __init__(self) -> None:
        self.received: list[ReceivedRequest] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A reply delayed past the client's timeout meets a closed socket: expected here.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def reply_with(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.received.append(request)
            return self._script.pop(0) if self._script else Reply()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = receiver._next_reply(ReceivedRequest(self.path, headers, body))
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler
