"""Real alert receivers on 127.0.0.1 for the alert tests: a threaded HTTP webhook that records
what Apprise's json:// posts, and an SMTP server (aiosmtpd) that records what mailto:// sends."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Webhook:
    """Records every POST's JSON body; answers with the next of ``statuses``, then 200.
    ``on_post`` (optional) runs after recording, before the answer."""

    statuses: list[int] = field(default_factory=list)
    on_post: Callable[[dict[str, Any]], None] | None = None
    posts: list[dict[str, Any]] = field(default_factory=list)  # every body received
    answered: list[int] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The bodies it answered with a 2xx: the messages it took."""
        return [p for p, code in zip(self.posts, self.answered, strict=False) if code < 300]

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"json://127.0.0.1:{self.server.server_address[1]}/alerts"

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                with lock:
                    hook.posts.append(body)
                    code = hook.statuses.pop(0) if hook.statuses else 200
                if hook.on_post is not None:
                    hook.on_post(body)
                with lock:
                    hook.answered.append(code)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, no TLS, no login."""

    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages

    def url(self, to: str = "desk@news.example") -> str:
        return f"mailto://127.0.0.1:{self.port}?mode=insecure&from=noisecast@news.example&to={to}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return str(part.get_content())
