"""The review pages: login, the queue, a story, the edit form, and the three actions on a
forecast; the story Timeline's actions (approve, edit, hide an entry; add an editor's entry).
Each view makes one Store call per thing it shows (the queue: suggestions and timeline entries;
a story: its review, entries and their events) and hands the results to a template (shaped,
where needed, by the pure functions of :mod:`noisecast.engine.core.review` and
:mod:`noisecast.engine.web.timeline_view`)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

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
from noisecast.engine.core.timeline import check_entry
from noisecast.engine.errors import NoisecastError
from noisecast.engine.web.accounts import new_session_token, token_hash, verify_password
from noisecast.engine.web.emerging_shape import term_rows
from noisecast.engine.web.limits import HashingBusy, LoginGuard, TooManyAttempts
from noisecast.engine.web.pages import (
    SESSION_SECONDS,
    LoginRequired,
    error_page,
    local_path,
    render,
    store_of,
)
from noisecast.engine.web.timeline_view import (
    MAX_QUEUE,
    entry_rows,
    event_rows,
    form_time,
    group_pending,
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
# A timeline entry's id, the same way; and the version of it the editor saw (a form field: a
# missing or impossible one is a malformed request).
EntryId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]


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
    store = store_of(request)
    data = store.review_queue(status=status, story=story or None, level=level or None)
    waiting = store.pending_timeline(limit=MAX_QUEUE)
    timeline = group_pending(e for e in waiting if not story or e["slug"] == story)
    return render(
        request,
        "queue.html",
        data=data,
        timeline=timeline,
        timeline_counts={g["slug"]: len(g["entries"]) for g in timeline},
        timeline_more=MAX_QUEUE if len(waiting) >= MAX_QUEUE else 0,
        filters={"status": status, "story": story, "level": level},
        statuses=(*STATUSES, "all"),
        levels=LEVELS,
    )


@router.get("/stories/{slug}", response_class=HTMLResponse)
def story(request: Request, slug: str, editor: Editor) -> Response:
    store = store_of(request)
    try:
        data = store.story_review(slug)
    except NoisecastError:
        return error_page(request, 404, f"There is no story {slug!r}.")
    story_id = int(data["story"]["id"])
    return render(
        request,
        "story.html",
        view=story_view(data),
        timeline=entry_rows(store.timeline_entries(story_id)),
        timeline_events=event_rows(store.timeline_history(story_id)),
        query_terms=term_rows(store.query_suggestions(story_id)),
        now=request.app.state.now(),
    )


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


# --- the story timeline ----------------------------------------------------------------------

_TIMELINE_DONE = {
    "approve": "Approved: “{title}” is on the story's public timeline.",
    "edit": "Edited and published: “{title}” is on the story's public timeline.",
    "hide": "Hidden: “{title}” is not on the story's public timeline.",
    "add": "Added and published: “{title}” is on the story's public timeline.",
}
# The form fields of an entry, as the messages of check_entry and form_time name them.
_FIELDS = {"title": "title", "text": "text", "link": "link", "time": "at"}


def _field_of(message: str) -> str:
    """Which form field a validation message is about (its first word names it)."""
    first = message.split(":", 1)[0].strip().lower().split(" ")[-1]
    return _FIELDS.get(first, "")


def _to_story(request: Request, slug: str, message: str) -> Response:
    request.session["flash"] = message
    return RedirectResponse(f"/stories/{quote(slug, safe='')}#timeline", status_code=303)


def _entry_or_404(request: Request, entry_id: int) -> dict[str, Any] | Response:
    entry = store_of(request).timeline_entry(entry_id)
    if entry is None:
        return error_page(request, 404, f"There is no timeline entry {entry_id}.")
    return entry


def _entry_form(
    request: Request,
    *,
    story: dict[str, Any],
    values: dict[str, Any],
    entry: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The edit (``entry``) or add form on a page of its own: first opened from a link, or
    returned with the editor's values and the error (422) naming the field."""
    return render(
        request,
        "timeline_edit.html",
        status_code=status_code,
        story=story,
        entry=entry_rows([entry])[0] if entry else None,
        values=values,
        error=error,
        field=_field_of(error) if error else "",
        now=request.app.state.now(),
    )


def _checked(
    request: Request, title: str, text: str, link: str, at: str
) -> tuple[str, str, str | None, datetime]:
    """The editor's entry, checked (:func:`noisecast.engine.core.timeline.check_entry`);
    raises ReviewInputError naming the field."""
    return check_entry(title, text, link, form_time(at), request.app.state.now())


@router.get("/timeline/{entry_id}/edit", response_class=HTMLResponse)
def timeline_edit_form(request: Request, entry_id: EntryId, editor: Editor) -> Response:
    entry = _entry_or_404(request, entry_id)
    if isinstance(entry, Response):
        return entry
    row = entry_rows([entry])[0]
    return _entry_form(
        request,
        story={"slug": entry["slug"], "title": entry["story_title"]},
        entry=entry,
        values={**row["form"], "version": entry["version"]},
    )


@router.post("/timeline/{entry_id}/{action}", response_class=HTMLResponse)
def timeline_review(
    request: Request,
    entry_id: EntryId,
    action: str,
    editor: Editor,
    version: Version,
    title: Annotated[str, Form(max_length=10_000)] = "",
    text: Annotated[str, Form(max_length=100_000)] = "",
    link: Annotated[str, Form(max_length=10_000)] = "",
    at: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Approve (publish the proposal), edit (publish the editor's title, text, link and time)
    or hide an entry, if it is still at the version the editor saw (else 409, saying who did
    what when)."""
    if action not in ("approve", "edit", "hide"):
        return error_page(request, 404, "There is no such page: the address names no action.")
    entry = _entry_or_404(request, entry_id)
    if isinstance(entry, Response):
        return entry
    fields: dict[str, Any] = {}
    if action == "edit":
        try:
            checked = _checked(request, title, text, link, at)
        except ReviewInputError as e:
            return _entry_form(
                request,
                story={"slug": entry["slug"], "title": entry["story_title"]},
                entry=entry,
                values={"title": title, "text": text, "link": link, "at": at, "version": version},
                error=str(e),
                status_code=422,
            )
        fields = dict(zip(("title", "text", "link", "at"), checked, strict=True))
        fields["link"] = (
            fields["link"] or ""
        )  # an emptied link removes the proposal's (None keeps it)
    done = store_of(request).review_timeline_entry(
        entry_id,
        action,
        editor=editor["username"],
        seen_version=version,
        now=request.app.state.now(),
        **fields,
    )
    shown = done.get("published_title") or done.get("title") or entry["title"]
    return _to_story(request, entry["slug"], _TIMELINE_DONE[action].format(title=shown))


@router.post("/stories/{slug}/timeline", response_class=HTMLResponse)
def timeline_add(
    request: Request,
    slug: str,
    editor: Editor,
    title: Annotated[str, Form(max_length=10_000)] = "",
    text: Annotated[str, Form(max_length=100_000)] = "",
    link: Annotated[str, Form(max_length=10_000)] = "",
    at: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """An editor's own entry ("Internal memo sent"): published as written."""
    store = store_of(request)
    story = next((s for s in store.list_stories() if s["slug"] == slug), None)
    if story is None:
        return error_page(request, 404, f"There is no story {slug!r}.")
    try:
        title_, text_, link_, at_ = _checked(request, title, text, link, at)
    except ReviewInputError as e:
        return _entry_form(
            request,
            story=story,
            values={"title": title, "text": text, "link": link, "at": at},
            error=str(e),
            status_code=422,
        )
    store.add_timeline_entry(
        int(story["id"]),
        editor=editor["username"],
        at=at_,
        title=title_,
        text=text_,
        link=link_,
        now=request.app.state.now(),
    )
    return _to_story(request, slug, _TIMELINE_DONE["add"].format(title=title_))
