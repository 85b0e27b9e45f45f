"""A loopback webhook receiver: the demo newsroom's end of an alert destination.

It accepts ``POST`` on any path, records the body (and the JSON it holds, if any) and answers
``200``, as a chat service's incoming webhook would. Point an Apprise ``json://`` URL at
:meth:`WebhookReceiver.apprise_url` and every alert the delivery job sends arrives here, over
real HTTP. Like :class:`~noisecast.engine.demo.server.DemoFeedServer` it binds to a loopback
address only, on an ephemeral port, in a daemon thread.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from noisecast.engine.demo._loopback import LoopbackServer

__all__ = ["Received", "WebhookReceiver"]

MAX_BODY = 1 << 20  # a webhook message is small; a larger body is refused (413)


@dataclass(frozen=True, slots=True)
class Received:
    """One ``POST`` as it arrived."""

    path: str
    content_type: str
    body: bytes
    document: Any  # the body parsed as JSON; None when it is not JSON

    @property
    def title(self) -> str:
        """Apprise's JSON payload: ``{"version", "title", "message", "type", ...}``."""
        return str(self.document.get("title", "")) if isinstance(self.document, dict) else ""

    @property
    def message(self) -> str:
        if isinstance(self.document, dict):
            return str(self.document.get("message", ""))
        return self.body.decode("utf-8", "replace")


class WebhookReceiver(LoopbackServer):
    """Record every ``POST`` sent to ``{base_url}/...``.

    Use as a context manager (or ``start()`` / ``stop()``)::

        with WebhookReceiver() as receiver:
            apprise.Apprise(receiver.apprise_url("/alerts")).notify("body", title="title")
            receiver.received[0].title
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._received: list[Received] = []

    thread_name = "demo-webhook-receiver"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def apprise_url(self, path: str = "/alerts") -> str:
        """The Apprise URL that posts Apprise's JSON payload to ``path`` here."""
        return f"json://{self.base_url.removeprefix('http://')}/{path.lstrip('/')}"

    @property
    def received(self) -> list[Received]:
        """Every ``POST`` so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._received)

    def _record(self, item: Received) -> None:
        with self._lock:
            self._received.append(item)


def _make_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "noisecast-demo-receiver/1"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the demo prints what arrived at the end

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False})
                return
            body = self.rfile.read(length)
            try:
                document = json.loads(body) if body else None
            except ValueError:
                document = None
            receiver._record(
                Received(
                    path=self.path,
                    content_type=self.headers.get("Content-Type", ""),
                    body=body,
                    document=document,
                )
            )
            self._answer(HTTPStatus.OK, {"ok": True})

        def _answer(self, status: HTTPStatus, document: object) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
