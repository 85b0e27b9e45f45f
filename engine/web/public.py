"""The reader's pages, no login: ``GET /stories/{slug}`` (the story page: Noise Level,
Forecast, Timeline) and the widgets a CMS frames, ``GET /embed/{slug}/noise|forecast|timeline``.

Only what editors approved is shown: the story's latest approved forecast
(``Store.published_rows``) and its approved Timeline entries (``Store.published_timeline``);
the noise level is measured, not written, so it is always shown. The shaping is pure
(:mod:`noisecast.engine.core.public`); these views read the Store and render.

Headers, per response (:class:`~noisecast.engine.web.pages.SecurityHeaders` adds the rest):

- the page: a Content-Security-Policy that allows only its own stylesheet, no script, no
  framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``);
- a widget: one self-contained document (the stylesheet inline, allowed by its sha256; no
  script; no request of any kind), framable by the origins of ``[public] frame_ancestors``
  only (``'none'`` when empty), so it carries no X-Frame-Options;
- both: ``Cache-Control: public, max-age=[public] cache_seconds`` and a strong ETag
  (``If-None-Match`` gets ``304``), and no cookie is ever read into or set on them.

An editor who is signed in and opens ``/stories/{slug}`` gets the review view of the story
(:func:`noisecast.engine.web.views.story`), as before; readers get the story page.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from noisecast.engine.config import Settings
from noisecast.engine.core.public import (
    HISTORY_HOURS,
    RECENT_HOURS,
    Recent,
    forecast_box,
    noise_box,
    recent_activity,
    timeline_items,
    when_label,
)
from noisecast.engine.core.review import published_story
from noisecast.engine.schema import STORY
from noisecast.engine.store import Store
from noisecast.engine.web import views
from noisecast.engine.web.pages import HERE, LoginRequired, cached, store_of

router = APIRouter()

WIDGETS = ("noise", "forecast", "timeline")
HTML = "text/html; charset=utf-8"
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


@functools.cache
def embed_style() -> tuple[str, str]:
    """The widgets' inline stylesheet (``static/public.css``) and its CSP source
    (``'sha256-...'``), read and hashed once."""
    css = (HERE / "static" / "public.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return css, f"'sha256-{digest}'"


def embed_csp(settings: Settings) -> str:
    """A widget's policy: its inline style only, data: images, framed by the configured
    origins (``'none'`` when there are none)."""
    ancestors = " ".join(settings.public.frame_ancestors) or "'none'"
    return (
        f"default-src 'none'; style-src {embed_style()[1]}; img-src data:; "
        f"frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    )


# --- reading -----------------------------------------------------------------------------------


def _noise(store: Store, slug: str, as_of: datetime | None) -> dict[str, Any] | None:
    """The Noise Level box of the story whose newest score is at ``as_of``."""
    if as_of is None:
        return None
    end = as_of + timedelta(hours=1)
    frame = store.scores_frame(end - timedelta(hours=HISTORY_HOURS), end)
    mine = frame[frame[STORY] == slug]
    history = {
        t.to_pydatetime(): float(s) for t, s in zip(mine["as_of"], mine["score"], strict=True)
    }
    newest = mine[mine["as_of"] == as_of]
    if newest.empty:
        return None
    row = newest.iloc[0]
    recent = store.mention_frame(end - timedelta(hours=RECENT_HOURS), end, stories_only=[slug])
    score = {
        "as_of": as_of,
        "score": float(row["score"]),
        "level": str(row["level"]),
        "components": row["components"] or {},
    }
    return noise_box(score, history, recent_activity(recent) if len(recent) else Recent())


def story_data(
    store: Store, settings: Settings, slug: str, parts: tuple[str, ...] = WIDGETS
) -> dict[str, Any] | None:
    """What the page (or one widget: ``parts``) shows of ``slug``; None when no active story
    has that slug."""
    rows = store.published_rows(slug)
    if not rows:
        return None
    row = rows[0]
    entries = store.published_timeline(store.story_id(slug)) if "timeline" in parts else []
    story = published_story(row, hedge=settings.review.hedge_lead, timeline=entries)
    as_of: datetime | None = row.get("score_as_of")
    updated = datetime.fromisoformat(story["updated"]) if story["updated"] else None
    return {
        "story": {"slug": story["slug"], "title": story["title"]},
        "updated": when_label(updated) if updated else "",
        "updated_iso": updated.isoformat() if updated else "",
        "noise": _noise(store, slug, as_of) if "noise" in parts else None,
        "forecast": forecast_box(
            story["forecast"],
            lead=settings.review.hedge_lead,
            close=settings.review.hedge_close,
            observed_until=as_of + timedelta(hours=1) if as_of else None,
        ),
        "timeline": timeline_items(entries),
    }


# --- rendering ---------------------------------------------------------------------------------


def _html(request: Request, name: str, context: dict[str, Any]) -> bytes:
    env = request.app.state.templates.env
    return str(env.get_template(name).render(**context)).encode()


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    return cached(
        request,
        _html(request, name, context),
        media_type=HTML,
        max_age=settings.public.cache_seconds,
        status_code=status,
        headers={"Content-Security-Policy": PAGE_CSP},
    )


def _widget(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    base = settings.public.base_url.rstrip("/")
    slug = context.get("story", {}).get("slug")
    page_url = f"{base}/stories/{quote(slug, safe='')}" if slug else ""
    body = _html(
        request, name, {**context, "style": Markup(embed_style()[0]), "page_url": page_url}
    )
    return cached(
        request,
        body,
        media_type=HTML,
        max_age=settings.public.cache_seconds,
        status_code=status,
        headers={"Content-Security-Policy": embed_csp(settings)},
    )


def _signed_in(request: Request) -> dict[str, Any] | None:
    """The editor whose valid session the request carries, else None (readers carry none)."""
    if "sid" not in request.session:
        return None
    try:
        return views.current_editor(request)
    except LoginRequired:
        return None


# --- routes ------------------------------------------------------------------------------------


@router.get("/stories/{slug}")
def story_page(request: Request, slug: str) -> Response:
    """The story page readers see (editors signed in get the review view)."""
    stale = "sid" in request.session
    editor = _signed_in(request)
    if editor is not None:
        return views.story(request, slug, editor)
    data = story_data(store_of(request), request.app.state.settings, slug)
    response = (
        _page(request, "public_missing.html", {}, status=404)
        if data is None
        else _page(request, "public_story.html", data)
    )
    if stale:  # the cookie of an ended session is being cleared: keep this out of caches
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/embed/{slug}/{widget}")
def widget(request: Request, slug: str, widget: str) -> Response:
    """One box of the story page as a document to frame: noise, forecast or timeline."""
    data = None
    if widget in WIDGETS:
        data = story_data(store_of(request), request.app.state.settings, slug, (widget,))
    if data is None:
        return _widget(request, "embed_missing.html", {}, status=404)
    return _widget(request, f"embed_{widget}.html", data)
