"""The published JSON: what story pages read. No session; cacheable for a minute, with an ETag
so a page that polls gets ``304 Not Modified`` until something changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from noisecast.engine.config import Settings
from noisecast.engine.core.review import published_story
from noisecast.engine.store import Store
from noisecast.engine.web.pages import store_of

router = APIRouter(prefix="/api")

CACHE_CONTROL = "public, max-age=60"


def published(store: Store, settings: Settings, slug: str | None = None) -> list[dict[str, Any]]:
    """The published JSON of every active story (or just ``slug``): what ``/api/stories``
    serves and ``noisecast export --json`` prints."""
    hedge = settings.review.hedge_lead
    return [published_story(r, hedge=hedge) for r in store.published_rows(slug)]


def _cached(request: Request, data: Any, status_code: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Vary": "Accept-Encoding"}
    wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if status_code == 200 and (etag in wanted or f"W/{etag}" in wanted):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code, headers=headers, media_type="application/json")


@router.get("/stories")
def stories(request: Request) -> Response:
    """Every active story: its noise level now and its latest approved forecast (or null)."""
    return _cached(request, {"stories": published(store_of(request), request.app.state.settings)})


@router.get("/stories/{slug}")
def story(request: Request, slug: str) -> Response:
    found = published(store_of(request), request.app.state.settings, slug)
    if not found:
        return JSONResponse(
            {"detail": f"no published story {slug!r}"},
            status_code=404,
            headers={"Cache-Control": CACHE_CONTROL},
        )
    return _cached(request, found[0])
