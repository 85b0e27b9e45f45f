"""The review app: ``create_app(store, settings, secret_key)``.

Security, in one place:

- sessions are signed cookies (itsdangerous, via Starlette's SessionMiddleware): HttpOnly,
  SameSite=Lax, 12 hours, Secure with ``secure_cookie``; the session holds the editor's name,
  a random session token and a CSRF token. The token's sha256 is a row of ``editor_sessions``
  checked on every request: logout revokes it, a new password revokes all of the editor's;
- failed logins are limited per account and address, and password checks (argon2, 64 MiB
  each) run at most two at once (:mod:`engine.web.limits`);
- every POST must carry that token (form field ``csrf`` or header ``X-CSRF-Token``): an
  app-wide dependency checks it before any view runs;
- every page but the login page needs a session; the published JSON (``/api``) needs none;
- templates are autoescaped and feed text is never marked safe; links are rendered only for
  http(s) URLs (:func:`engine.review.safe_url`); a Content-Security-Policy allows no script
  at all and no inline style;
- every response carries the security headers, errors included: :class:`SecurityHeaders`
  wraps the whole app, outside Starlette's error middleware (:class:`ReviewApp`); a malformed
  or out-of-range id is a 404 or a 422 page, an unexpected error a bare 500 page (logged),
  never a traceback.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.config import Settings
from engine.errors import ConfigError, StorageError
from engine.review import ReviewConflict, safe_url, sparkline
from engine.store import Store
from engine.web.limits import LoginGuard, LoginLimits

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "noisecast_session"
SESSION_SECONDS = 12 * 3600
MIN_SECRET = 32
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


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
    """Headers every response carries; the JSON API may be read from any origin."""

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
                if api:
                    extra[b"access-control-allow-origin"] = b"*"
                elif b"cache-control" not in names and not scope["path"].startswith("/static/"):
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


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


def create_app(
    store: Store,
    settings: Settings,
    secret_key: str | None,
    dev: bool = False,
    *,
    now: Callable[[], datetime] | None = None,
    secure_cookie: bool = False,
    login_limits: LoginLimits | None = None,
) -> FastAPI:
    """The review app over ``store``. ``secret_key`` signs the session cookies: required
    (at least 32 characters) unless ``dev``, where a missing one is made up for this process
    (sessions then end when it stops). ``login_limits`` bound failed logins and concurrent
    password checks (:mod:`engine.web.limits`; the defaults when None)."""
    if not secret_key:
        if not dev:
            raise ConfigError(
                "NOISECAST_SECRET_KEY is not set: the review app signs its session cookies "
                "with it. Set it to a long random string, e.g. "
                "`export NOISECAST_SECRET_KEY=$(python3 -c 'import secrets; "
                "print(secrets.token_hex(32))')`, or pass --dev to try the app locally."
            )
        secret_key = secrets.token_hex(32)
    elif len(secret_key) < MIN_SECRET and not dev:
        raise ConfigError(
            f"NOISECAST_SECRET_KEY is {len(secret_key)} characters long: use at least "
            f"{MIN_SECRET} random characters (python3 -c 'import secrets; "
            "print(secrets.token_hex(32))')"
        )

    from engine.web import api, views  # the routes need the helpers above

    app = ReviewApp(
        title="noisecast review",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_csrf)],
    )
    app.state.store = store
    app.state.settings = settings
    app.state.now = now or (lambda: datetime.now(UTC))
    app.state.templates = make_templates()
    app.state.login_guard = LoginGuard(login_limits)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_SECONDS,
        same_site="lax",
        https_only=secure_cookie,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(views.router)
    app.include_router(api.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        return error_page(
            request,
            403,
            "Refused: the form's security token is missing or out of date (your session may "
            "have ended). Reload the page, log in if asked, and try again.",
        )

    @app.exception_handler(ReviewConflict)
    async def _conflict(request: Request, exc: ReviewConflict) -> Response:
        return error_page(request, 409, str(exc), title="Conflict")

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> Response:
        return error_page(request, 503, f"The database is not available: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """A path that names nothing that can exist (``/forecasts/abc/edit``, an id of 10**30)
        is not found; a malformed form or query is refused."""
        in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
        status, message = (
            (404, "There is no such page: the address names nothing that can exist.")
            if in_path
            else (422, "The request is malformed: reload the page and try again.")
        )
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status)
        return error_page(request, status, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        return HTMLResponse(
            "<!doctype html><title>Error</title><h1>Something went wrong</h1>"
            '<p>The error is logged. <a href="/">Back to the queue</a></p>',
            status_code=500,
        )

    return app


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
