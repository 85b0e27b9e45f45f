"""The published JSON: what story pages read. No session; cacheable for ``[public]
cache_seconds``, with an ETag so a page that polls gets ``304 Not Modified`` until something
changes. Each story carries its noise level, its latest approved forecast and its published
Timeline (approved entries only)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from noisecast.engine.config import Settings
from noisecast.engine.core.review import published_story
from noisecast.engine.store import Store
from noisecast.engine.web.pages import LoginRequired, cached, store_of
from noisecast.engine.web.views import current_editor

router = APIRouter(prefix="/api")


def published(store: Store, settings: Settings, slug: str | None = None) -> list[dict[str, Any]]:
    """The published JSON of every active story (or just ``slug``): what ``/api/stories``
    serves and ``noisecast export --json`` prints."""
    hedge = settings.review.hedge_lead
    rows = store.published_rows(slug)
    ids = store.story_ids() if rows else {}
    return [
        published_story(r, hedge=hedge, timeline=store.published_timeline(ids[r["slug"]]))
        for r in rows
    ]


def _json(request: Request, data: Any) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    settings: Settings = request.app.state.settings
    return cached(
        request, body, media_type="application/json", max_age=settings.public.cache_seconds
    )


@router.get("/stories")
def stories(request: Request) -> Response:
    """Every active story: its noise level now, its latest approved forecast (or null) and
    its published Timeline."""
    return _json(request, {"stories": published(store_of(request), request.app.state.settings)})


@router.get("/stories/{slug}")
def story(request: Request, slug: str) -> Response:
    settings: Settings = request.app.state.settings
    found = published(store_of(request), settings, slug)
    if not found:
        return JSONResponse(
            {"detail": f"no published story {slug!r}"},
            status_code=404,
            headers={"Cache-Control": f"public, max-age={settings.public.cache_seconds}"},
        )
    return _json(request, found[0])


@router.get("/emerging")
def emerging(request: Request) -> Response:
    """Stories getting loud that nobody tracks yet (issue 14), loudest first, as
    ``Store.list_proposals`` gives them: for logged-in editors only (401 otherwise), never
    cached."""
    try:
        current_editor(request)
    except LoginRequired:
        return JSONResponse(
            {"detail": "log in to the review app first: emerging stories are for editors"},
            status_code=401,
            headers={"Cache-Control": "no-store"},
        )
    rows = [_plain(r) for r in store_of(request).list_proposals()]
    return JSONResponse(rows, headers={"Cache-Control": "private, no-store"})


def _plain(value: Any) -> Any:
    """Datetimes as ISO 8601 text, the rest as it is (JSON columns are already plain)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
