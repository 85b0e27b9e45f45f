"""The published JSON: what story pages read. No session; cacheable for ``[public]
cache_seconds``, with an ETag so a page that polls gets ``304 Not Modified`` until something
changes. Each story carries its noise level, its latest approved forecast and its published
Timeline (approved entries only)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from noisecast.engine.config import Settings
from noisecast.engine.core.review import published_story
from noisecast.engine.store import Store
from noisecast.engine.web.pages import cached, store_of

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
