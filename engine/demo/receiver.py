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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from noisecast.engine.demo.server import _is_loopback, _QuietServer

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


class WebhookReceiver:
    """Record every ``POST`` sent to ``{base_url}/...``.

    Use as a context manager (or ``start()`` / ``stop()``)::

        with WebhookReceiver() as receiver:
            apprise.Apprise(receiver.apprise_url("/alerts")).notify("body", title="title")
            receiver.received[0].title
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"WebhookReceiver binds to loopback only; got host {host!r}. Use '127.0.0.1'."
            )
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind (ephemeral port unless one was given) and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("WebhookReceiver is already running; call stop() first")
        httpd = _QuietServer((self.host, self.port), _make_handler(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"demo-webhook-receiver:{httpd.server_port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread. Safe to call more than once."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("WebhookReceiver is not running; call start() or use `with`")
        return f"http://{self.host}:{self._httpd.server_port}"

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
