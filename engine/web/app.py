"""The review app: ``create_app(store, settings, secret_key)``.

Security, in one place:

- sessions are signed cookies (itsdangerous, via Starlette's SessionMiddleware): HttpOnly,
  SameSite=Lax, 12 hours, Secure with ``secure_cookie``; the session holds the editor's name,
  a random session token and a CSRF token. The token's sha256 is a row of ``editor_sessions``
  checked on every request: logout revokes it, a new password revokes all of the editor's;
- failed logins are limited per account and address, and password checks (argon2, 64 MiB
  each) run at most two at once (:mod:`noisecast.engine.web.limits`);
- every POST must carry that token (form field ``csrf`` or header ``X-CSRF-Token``): an
  app-wide dependency checks it before any view runs;
- every page but the login page needs a session; the published JSON (``/api``), the story
  page readers see (``/stories/{slug}`` without a session) and its widgets (``/embed``) need
  none (:mod:`noisecast.engine.web.public`: their own CSP, cacheable, no cookie);
- templates are autoescaped and feed text is never marked safe; links are rendered only for
  http(s) URLs (:func:`noisecast.engine.core.review.safe_url`); a Content-Security-Policy allows no
  script at all and no inline style (a widget's one inline stylesheet is allowed by its hash);
- every response carries the security headers, errors included: :class:`SecurityHeaders`
  wraps the whole app, outside Starlette's error middleware (:class:`ReviewApp`); a malformed
  or out-of-range id is a 404 or a 422 page, an unexpected error a bare 500 page (logged),
  never a traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from noisecast.engine.config import Settings
from noisecast.engine.core.review import ReviewConflict
from noisecast.engine.errors import ConfigError, StorageError
from noisecast.engine.store import Store
from noisecast.engine.web import alerts_view, api, emerging_view, public, views
from noisecast.engine.web.limits import LoginGuard, LoginLimits
from noisecast.engine.web.pages import (
    HERE,
    MIN_SECRET,
    SESSION_COOKIE,
    SESSION_SECONDS,
    CsrfFailed,
    LoginRequired,
    ReviewApp,
    check_csrf,
    error_page,
    make_templates,
)

__all__ = ["SESSION_COOKIE", "SESSION_SECONDS", "create_app"]

log = logging.getLogger("noisecast.web")


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
    password checks (:mod:`noisecast.engine.web.limits`; the defaults when None)."""
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
    app.include_router(public.router)  # first: /stories/{slug} is the readers' page
    app.include_router(views.router)
    app.include_router(api.router)
    app.include_router(alerts_view.router)
    app.include_router(emerging_view.router)
    app.state.templates.env.globals["failing_destinations"] = alerts_view.failing_count

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
