"""What the demo's loopback servers share: bind to a loopback address only (an ephemeral port
unless one is given), serve in a daemon thread, stop cleanly, work as a context manager.

:class:`~noisecast.engine.demo.server.DemoFeedServer` (the outlets and social APIs) and
:class:`~noisecast.engine.demo.receiver.WebhookReceiver` (the newsroom's alert webhook) are the
two; each gives its request handler class.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LoopbackServer", "is_loopback"]


def is_loopback(host: str) -> bool:
    """IPv4 loopback (the server is IPv4, like ``http.server``) or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is routine for these servers; anything else is a
        # bug and is reported as usual.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """A threaded HTTP server on a loopback address; subclasses give :meth:`_handler`."""

    thread_name = "demo-loopback"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"{type(self).__name__} binds to loopback only; got host {host!r}. Use '127.0.0.1'."
            )
        self.host = host
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None  # kept after stop(): where it was

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> None:
        """Bind (ephemeral port unless one was given) and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running; call stop() first")
        httpd = _QuietServer((self.host, self.port), self._handler())
        self._base_url = f"http://{self.host}:{httpd.server_port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_name}:{httpd.server_port}",
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

    def __enter__(self) -> Self:
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
        if self._base_url is None:
            raise RuntimeError(
                f"{type(self).__name__} has no address yet; call start() or use `with`"
            )
        return self._base_url

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the listening socket is bound to."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() or use `with`")
        host, port = self._httpd.socket.getsockname()[:2]
        return str(host), int(port)
