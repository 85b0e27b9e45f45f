"""The Emerging pages of the review app (issue 14): ``/emerging`` lists the stories getting
loud that nobody tracks yet, loudest first; ``/emerging/{id}`` shows one with its headlines,
its score's history and components, the suggested query with how well it fits (and a preview
of what any query would match), and the three decisions: **track** it as a new story, **merge**
it into a tracked story (its terms OR-ed into that story's query), or **dismiss** it. A
story's review page offers its suggested query terms (``/query-terms/{id}/add|dismiss``).

Each decision is one job function of :mod:`noisecast.engine.jobs.emerging` (the story is added
or changed and rematched, its noise history filled in at once, and the proposal's status set
on the version the editor saw, with its audit row). A stale version is the 409 page ("changed
since you looked"); a bad field comes back as a 422 form naming it; every POST carries the
CSRF token (checked app-wide). Views hold no rules: they read the Store, shape rows for the
templates (the pure functions below) and call the jobs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from noisecast.engine.core.review import ReviewConflict
from noisecast.engine.errors import AlreadyExistsError, NoisecastError, QueryError
from noisecast.engine.jobs import emerging as jobs
from noisecast.engine.jobs.rematch import preview_query
from noisecast.engine.web.emerging_shape import (
    audit_rows,
    decided_in_words,
    field_of,
    merge_options,
    proposal_row,
    suggest_slug,
    when,
)
from noisecast.engine.web.pages import error_page, render, store_of
from noisecast.engine.web.views import Editor

__all__ = ["router"]

router = APIRouter()

ProposalId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
TermId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Text = Annotated[str, Form(max_length=2_000)]
QueryText = Annotated[str, Form(max_length=10_000)]

PREVIEW_SAMPLES = 5
DECIDED_SHOWN = 10  # decided proposals listed under the open ones

# --- views ---------------------------------------------------------------------------------------


def _proposal_or_404(request: Request, proposal_id: int) -> dict[str, Any] | Response:
    found = store_of(request).proposal(proposal_id)
    if found is None:
        return error_page(request, 404, f"There is no emerging-story proposal {proposal_id}.")
    return found


def _conflict(request: Request, error: ReviewConflict) -> Response:
    """The 409 page: the job's message says what changed, who did it and when."""
    return error_page(request, 409, str(error), title="Changed since you looked")


def _active_stories(request: Request) -> list[tuple[str, str]]:
    return [(str(s["slug"]), str(s["title"])) for s in store_of(request).list_stories("active")]


@router.get("/emerging", response_class=HTMLResponse)
def emerging_page(request: Request, editor: Editor) -> Response:
    store = store_of(request)
    everything = store.list_proposals(None)
    decided = sorted(
        (p for p in everything if p["status"] in ("tracked", "merged", "dismissed")),
        key=lambda p: when(p.get("updated_at")) or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    return render(
        request,
        "emerging.html",
        proposals=[proposal_row(p) for p in everything if p["status"] == "proposed"],
        decided=[proposal_row(p) for p in decided[:DECIDED_SHOWN]],
        settings=request.app.state.settings.emerging,
    )


def _detail(
    request: Request,
    proposal: dict[str, Any],
    *,
    query: str | None = None,
    track: Mapping[str, Any] | None = None,
    merge: Mapping[str, Any] | None = None,
    error: str | None = None,
    form: str = "",
    status_code: int = 200,
) -> Response:
    """A proposal's page; ``query`` previews another query (and fills the Track form with
    it); ``track``/``merge`` keep what the editor typed, returned with ``error`` (422)."""
    store = store_of(request)
    settings = request.app.state.settings
    stories = _active_stories(request)
    shown_query = query or (str(track["query"]) if track else str(proposal["query"]))
    preview: dict[str, Any] = {"query": shown_query, "error": None, "result": None}
    try:
        preview["result"] = preview_query(
            store,
            shown_query,
            now=request.app.state.now(),
            days=settings.matching.rematch_days or 7,
            samples=PREVIEW_SAMPLES,
        )
    except (NoisecastError, ValueError) as e:  # QueryError, with its position
        preview["error"] = str(e)
    row = proposal_row(proposal)
    options = merge_options(str(proposal["query"]), row["terms"])
    slugs = {int(s["id"]): str(s["slug"]) for s in store.list_stories()}
    return render(
        request,
        "emerging_detail.html",
        status_code=status_code,
        p=row,
        open=proposal["status"] == "proposed",
        decided=decided_in_words(proposal),
        preview=preview,
        track={
            "slug": suggest_slug(str(proposal["title"]), slugs.values()),
            "title": str(proposal["title"]),
            "query": shown_query,
            **(track or {}),
        },
        merge={"story": "", "terms": [options[0]], "extra": "", **(merge or {})},
        merge_options=options,
        stories=stories,
        error=error,
        form=form,
        field=field_of(error) if error else "",
        events=audit_rows(store.proposal_events(int(proposal["id"])), slugs),
    )


@router.get("/emerging/{proposal_id}", response_class=HTMLResponse)
def proposal_page(
    request: Request,
    proposal_id: ProposalId,
    editor: Editor,
    query: Annotated[str, Query(max_length=10_000)] = "",
) -> Response:
    proposal = _proposal_or_404(request, proposal_id)
    if isinstance(proposal, Response):
        return proposal
    return _detail(request, proposal, query=query.strip() or None)


@router.post("/emerging/{proposal_id}/track", response_class=HTMLResponse)
def track(
    request: Request,
    proposal_id: ProposalId,
    editor: Editor,
    version: Version,
    slug: Text = "",
    title: Text = "",
    query: QueryText = "",
) -> Response:
    """Track the proposal as a new story with the editor's slug, title and query: its
    mentions are matched at once and it gets a score history back to its first mention."""
    proposal = _proposal_or_404(request, proposal_id)
    if isinstance(proposal, Response):
        return proposal
    typed = {"slug": slug.strip(), "title": title.strip(), "query": query.strip()}
    try:
        done = jobs.track_proposal(
            store_of(request),
            request.app.state.settings,
            proposal_id,
            **typed,
            actor=str(editor["username"]),
            expected_version=version,
            now=request.app.state.now(),
        )
    except ReviewConflict as e:
        return _conflict(request, e)
    except jobs.NotFound as e:
        return error_page(request, 404, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    except AlreadyExistsError:
        error = (
            f"slug: there is already a story “{typed['slug']}”: choose another slug, or merge "
            "this proposal into that story below."
        )
        return _detail(request, proposal, track=typed, error=error, form="track", status_code=422)
    except (QueryError, NoisecastError, ValueError) as e:
        message = str(e) if field_of(str(e)) or not isinstance(e, QueryError) else f"query: {e}"
        return _detail(request, proposal, track=typed, error=message, form="track", status_code=422)
    request.session["flash"] = (
        f"Tracked: “{typed['title']}” is the story {done}; its mentions are matched and its "
        "noise history filled in."
    )
    return RedirectResponse(f"/stories/{quote(done, safe='')}", status_code=303)


@router.post("/emerging/{proposal_id}/merge", response_class=HTMLResponse)
def merge(
    request: Request,
    proposal_id: ProposalId,
    editor: Editor,
    version: Version,
    story: Text = "",
    terms: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    extra: Text = "",
) -> Response:
    """OR the chosen terms (and any the editor typed) into a tracked story's query."""
    proposal = _proposal_or_404(request, proposal_id)
    if isinstance(proposal, Response):
        return proposal
    chosen = [t.strip() for t in terms if t.strip()] + ([extra.strip()] if extra.strip() else [])
    typed = {"story": story, "terms": chosen, "extra": extra}
    error = ""
    if story not in {slug for slug, _ in _active_stories(request)}:
        error = "story: choose the tracked story to merge this proposal into."
    elif not chosen:
        error = "terms: choose at least one term to add to the story's query."
    if error:
        return _detail(request, proposal, merge=typed, error=error, form="merge", status_code=422)
    try:
        jobs.merge_proposal(
            store_of(request),
            request.app.state.settings,
            proposal_id,
            story_slug=story,
            terms=chosen,
            actor=str(editor["username"]),
            expected_version=version,
            now=request.app.state.now(),
        )
    except ReviewConflict as e:
        return _conflict(request, e)
    except jobs.NotFound as e:
        return error_page(request, 404, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    except (QueryError, NoisecastError, ValueError) as e:
        message = str(e) if field_of(str(e)) else f"terms: {e}"
        return _detail(request, proposal, merge=typed, error=message, form="merge", status_code=422)
    request.session["flash"] = (
        f"Merged: the story {story} now also matches {' OR '.join(chosen)}; its mentions are "
        "matched again."
    )
    return RedirectResponse(f"/stories/{quote(story, safe='')}", status_code=303)


@router.post("/emerging/{proposal_id}/dismiss", response_class=HTMLResponse)
def dismiss(
    request: Request,
    proposal_id: ProposalId,
    editor: Editor,
    version: Version,
    note: Text = "",
) -> Response:
    """Dismiss the proposal: this cluster is never proposed again."""
    proposal = _proposal_or_404(request, proposal_id)
    if isinstance(proposal, Response):
        return proposal
    try:
        jobs.dismiss_proposal(
            store_of(request),
            proposal_id,
            actor=str(editor["username"]),
            expected_version=version,
            note=note.strip(),
            now=request.app.state.now(),
        )
    except ReviewConflict as e:
        return _conflict(request, e)
    except jobs.NotFound as e:
        return error_page(request, 404, f"{str(e)[:1].upper()}{str(e)[1:]}.")
    request.session["flash"] = f"Dismissed: “{proposal['title']}” is not proposed again."
    return RedirectResponse("/emerging", status_code=303)


# --- suggested query terms of a tracked story -----------------------------------------------------


@router.post("/query-terms/{term_id}/{action}", response_class=HTMLResponse)
def query_term(request: Request, term_id: TermId, action: str, editor: Editor) -> Response:
    """Add a suggested term to its story's query (OR-ed in, rematched, noise updated), or
    dismiss it (never suggested again for that story)."""
    if action not in ("add", "dismiss"):
        return error_page(request, 404, "There is no such page: the address names no action.")
    store = store_of(request)
    found = store.query_suggestion(term_id)
    if found is None:
        return error_page(request, 404, f"There is no suggested query term {term_id}.")
    slug, term = str(found["story_slug"]), str(found["term"])
    if found["status"] != "proposed":
        return error_page(
            request,
            409,
            f"The term {term} was already {found['status']} by "
            f"{found.get('updated_by') or 'another editor'}: nothing was changed. Reload the "
            "story's page to see its query as it is now.",
            title="Changed since you looked",
        )
    now, who = request.app.state.now(), str(editor["username"])
    try:
        if action == "add":
            jobs.add_suggested_term(store, request.app.state.settings, term_id, actor=who, now=now)
            message = f"Added {term} to the query; the story's mentions are matched again."
        else:
            if not store.set_query_suggestion_status(term_id, "dismissed", actor=who, now=now):
                raise ReviewConflict(f"the term {term} was decided by someone else meanwhile.")
            message = f"Dismissed: {term} is not suggested again for this story."
    except ReviewConflict as e:
        return error_page(
            request,
            409,
            f"This suggestion changed since you looked: {e} Nothing was changed.",
            title="Changed since you looked",
        )
    request.session["flash"] = message
    return RedirectResponse(f"/stories/{quote(slug, safe='')}#query-terms", status_code=303)
