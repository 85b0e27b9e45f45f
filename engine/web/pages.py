"""What the review app's pages share: the settings of its cookies and headers, the
templates, rendering, CSRF, the security headers, and errors as pages. The routes
(:mod:`~noisecast.engine.web.views`, :mod:`~noisecast.engine.web.api`) import from here;
:mod:`~noisecast.engine.web.app` assembles them."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from noisecast.engine.config import Settings
from noisecast.engine.core.review import safe_url, sparkline
from noisecast.engine.store import Store

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "noisecast_session"
SESSION_SECONDS = 12 * 3600
MIN_SECRET = 32
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

# The review pages' policy, and every response's that sets none of its own. The public story
# page and the widgets set theirs (:mod:`~noisecast.engine.web.public`).
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Widgets may be framed by the origins their own CSP lists (frame-ancestors): they carry no
# X-Frame-Options, which knows no list of origins and would refuse them all.
FRAMEABLE = "/embed/"


log = logging.getLogger("noisecast.web")


class ReviewApp(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside everything, so that even the 500 answer
    of Starlette's error middleware carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


def _utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return value.astimezone(UTC).strftime(fmt) if value else "-"


def _num(value: float | int | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=_utc, num=_num, pct=_pct)
    env.globals.update(safe_url=safe_url, sparkline=sparkline)
    return Jinja2Templates(env=env)


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\t\\")
    ):
        return default
    return target


class SecurityHeaders:
    """Headers every response carries, unless the response set its own (a page's own
    Content-Security-Policy, a public page's Cache-Control); the JSON API may be read from
    any origin; X-Frame-Options DENY everywhere but the widgets (:data:`FRAMEABLE`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                }
                if scope["path"].startswith(FRAMEABLE):
                    del extra[b"x-frame-options"]
                if api:
                    extra[b"access-control-allow-origin"] = b"*"
                elif b"cache-control" not in names and not scope["path"].startswith("/static/"):
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cached(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    max_age: int,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A public answer: ``Cache-Control: public, max-age``, a strong ETag (the sha256 of the
    body) and ``304 Not Modified`` when ``If-None-Match`` names it."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    sent = {
        **(headers or {}),
        "Cache-Control": f"public, max-age={max_age}",
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if status_code == 200 and (etag in wanted or f"W/{etag}" in wanted or "*" in wanted):
        return Response(status_code=304, headers=sent)
    return Response(body, status_code, headers=sent, media_type=media_type)


async def check_csrf(request: Request) -> None:
    """Every POST (and any other unsafe method) carries the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfFailed


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def page_context(request: Request, **context: Any) -> dict[str, Any]:
    """What every template gets: the editor (or None), the CSRF token, the flash message, the
    hedge, and the page's own values."""
    settings: Settings = request.app.state.settings
    return {
        "editor": getattr(request.state, "editor", None),
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "lead": settings.review.hedge_lead,
        "close": settings.review.hedge_close,
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    }


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, name, page_context(request, **context), status_code=status_code
    )
    return response


def error_page(request: Request, status: int, message: str, title: str = "") -> HTMLResponse:
    titles = {403: "Refused", 404: "Not found", 409: "Conflict", 503: "Unavailable"}
    return render(
        request,
        "error.html",
        status_code=status,
        title=title or titles.get(status, "Error"),
        message=message,
        status=status,
    )


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store
