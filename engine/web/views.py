"""The review pages: login, the queue, a story, the edit form, and the three actions. Each view
makes one Store call and hands the result to a template (shaped, where needed, by the pure
functions of :mod:`noisecast.engine.core.review`)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from noisecast.engine.core.review import (
    STATUSES,
    ReviewInputError,
    check_edit,
    check_reason,
    story_view,
)
from noisecast.engine.core.score import LEVELS
from noisecast.engine.errors import NoisecastError
from noisecast.engine.web.accounts import new_session_token, token_hash, verify_password
from noisecast.engine.web.limits import HashingBusy, LoginGuard, TooManyAttempts
from noisecast.engine.web.pages import (
    SESSION_SECONDS,
    LoginRequired,
    error_page,
    local_path,
    render,
    store_of,
)

router = APIRouter()


def current_editor(request: Request) -> dict[str, Any]:
    """The logged-in editor, or a redirect to the login page. The cookie's session must be
    one the database holds, not revoked (logout, a new password) and not expired."""
    token = request.session.get("sid")
    if not token:
        raise LoginRequired
    found = store_of(request).session_editor(token_hash(str(token)), now=request.app.state.now())
    if found is None:
        request.session.clear()
        raise LoginRequired
    editor = {"username": found["username"], "role": found["role"]}
    request.state.editor = editor
    return editor


Editor = Annotated[dict[str, Any], Depends(current_editor)]
# A forecast's id: a database key (a positive 64-bit integer); anything else is not found.
ForecastId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


# --- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=local_path(next), error=None, username="")


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password within the login limits (:mod:`noisecast.engine.web.limits`): too many
    failures is a 429, no free hashing slot a 503, both with Retry-After."""
    guard: LoginGuard = request.app.state.login_guard
    store = store_of(request)
    name = username.strip()
    address = request.client.host if request.client else "unknown"

    def refused(status: int, error: str, retry_after: int | None = None) -> Response:
        response = render(
            request,
            "login.html",
            status_code=status,
            next=local_path(next),
            error=error,
            username=username,
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    try:
        attempt = guard.begin(name, address, request.app.state.now())
    except TooManyAttempts as e:
        return refused(429, str(e), e.retry_after)
    found = await run_in_threadpool(store.get_editor, name) if name else None
    try:
        async with guard.hashing_slot():
            ok = await run_in_threadpool(
                verify_password, found["password_hash"] if found else None, password
            )
    except HashingBusy as e:
        guard.abandon(attempt)
        return refused(503, str(e), e.retry_after)
    if not ok or found is None:
        return refused(401, "Wrong user name or password.")
    guard.succeeded(attempt)
    token, hashed = new_session_token()
    now = request.app.state.now()
    expires = now + timedelta(seconds=SESSION_SECONDS)
    await run_in_threadpool(
        store.open_session, found["username"], hashed, now=now, expires_at=expires
    )
    request.session.clear()  # a fresh session (and CSRF token) for the new login
    request.session.update(user=found["username"], sid=token, csrf=secrets.token_urlsafe(32))
    return RedirectResponse(local_path(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session here and in the database: a copy of the cookie no longer logs in."""
    token = request.session.get("sid")
    if token:
        store_of(request).revoke_session(token_hash(str(token)), now=request.app.state.now())
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- pages -----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request,
    editor: Editor,
    status: Annotated[str, Query()] = "pending",
    story: Annotated[str, Query()] = "",
    level: Annotated[str, Query()] = "",
) -> Response:
    status = status if status in (*STATUSES, "all") else "pending"
    level = level if level in LEVELS else ""
    data = store_of(request).review_queue(status=status, story=story or None, level=level or None)
    return render(
        request,
        "queue.html",
        data=data,
        filters={"status": status, "story": story, "level": level},
        statuses=(*STATUSES, "all"),
        levels=LEVELS,
    )


@router.get("/stories/{slug}", response_class=HTMLResponse)
def story(request: Request, slug: str, editor: Editor) -> Response:
    try:
        data = store_of(request).story_review(slug)
    except NoisecastError:
        return error_page(request, 404, f"There is no story {slug!r}.")
    return render(request, "story.html", view=story_view(data))


@router.get("/forecasts/{forecast_id}/edit", response_class=HTMLResponse)
def edit_form(
    request: Request, forecast_id: ForecastId, editor: Editor, next: str = ""
) -> Response:
    forecast = store_of(request).forecast_for_review(forecast_id)
    if forecast is None:
        return error_page(request, 404, f"There is no suggestion {forecast_id}.")
    return render(
        request,
        "edit.html",
        forecast=forecast,
        text=forecast["suggested_text"],
        error=None,
        next=local_path(next, f"/stories/{forecast['slug']}"),
    )


# --- actions ---------------------------------------------------------------------------------


def _done(request: Request, message: str, next: str, slug: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(local_path(next, f"/stories/{slug}"), status_code=303)


@router.post("/forecasts/{forecast_id}/approve")
def approve(
    request: Request,
    forecast_id: ForecastId,
    editor: Editor,
    seen_status: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    done = store_of(request).review_forecast(
        forecast_id,
        action="approve",
        editor=editor["username"],
        seen_status=seen_status,
        now=request.app.state.now(),
    )
    return _done(request, "Approved: the suggestion is published.", next, done["slug"])


@router.post("/forecasts/{forecast_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    forecast_id: ForecastId,
    editor: Editor,
    text: Annotated[str, Form()] = "",
    seen_status: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    review = request.app.state.settings.review
    try:
        checked = check_edit(
            text, lead=review.hedge_lead, close=review.hedge_close, role=editor["role"]
        )
    except ReviewInputError as e:
        forecast = store_of(request).forecast_for_review(forecast_id)
        if forecast is None:
            return error_page(request, 404, f"There is no suggestion {forecast_id}.")
        return render(
            request,
            "edit.html",
            status_code=422,
            forecast=forecast,
            text=text,
            error=str(e),
            next=local_path(next, f"/stories/{forecast['slug']}"),
        )
    done = store_of(request).review_forecast(
        forecast_id,
        action="edit",
        editor=editor["username"],
        seen_status=seen_status,
        now=request.app.state.now(),
        text=checked,
    )
    return _done(request, "Edited and approved: your text is published.", next, done["slug"])


@router.post("/forecasts/{forecast_id}/reject", response_class=HTMLResponse)
def reject(
    request: Request,
    forecast_id: ForecastId,
    editor: Editor,
    reason: Annotated[str, Form()] = "",
    seen_status: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        checked = check_reason(reason)
    except ReviewInputError as e:
        return error_page(request, 422, str(e), title="Reason required")
    done = store_of(request).review_forecast(
        forecast_id,
        action="reject",
        editor=editor["username"],
        seen_status=seen_status,
        now=request.app.state.now(),
        text=checked,
    )
    return _done(request, "Rejected: nothing is published from it.", next, done["slug"])
