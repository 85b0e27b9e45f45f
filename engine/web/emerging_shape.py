"""How the Emerging pages show what the Store gives them (pure: rows in, rows out): a
proposal with its headlines' times parsed, its query's fit as numbers and its score history in
a line and in words; the audit trail of decisions; a story's suggested query terms; a slug
suggested from a headline; which form field an error message names. Used by
:mod:`noisecast.engine.web.emerging_view` and the story review page
(:mod:`noisecast.engine.web.views`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "audit_rows",
    "decided_in_words",
    "field_of",
    "history_summary",
    "merge_options",
    "proposal_row",
    "suggest_slug",
    "term_rows",
    "when",
]

SLUG_MAX = 40  # a suggested slug's length (settings allow 80)
SPARK_HOURS = 48  # the history drawn as a line
_FIELD = re.compile(r"\b(slug|title|query|story|terms?|note)\s*:")
_WORD = re.compile(r"[a-z0-9]+")
_SLUG_SKIP = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "for", "and", "as", "by"})


def when(value: Any) -> datetime | None:
    """A stored time (a datetime, or ISO text from a JSON column) as aware UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def history_summary(history: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A proposal's hourly scores ([ISO hour, score], oldest first) for the page: the last
    :data:`SPARK_HOURS` values to draw, and in words where it started, its peak and now."""
    points = [(when(h), float(s)) for h, s in history if s is not None]
    points = [(h, s) for h, s in points if h is not None]
    if not points:
        return {"values": [], "hours": 0, "first": None, "peak": None, "now": None}
    peak = max(points, key=lambda p: (p[1], p[0]))
    return {
        "values": [s for _, s in points[-SPARK_HOURS:]],
        "hours": len(points),
        "first": {"at": points[0][0], "score": points[0][1]},
        "peak": {"at": peak[0], "score": peak[1]},
        "now": {"at": points[-1][0], "score": points[-1][1]},
    }


def proposal_row(p: Mapping[str, Any]) -> dict[str, Any]:
    """A stored proposal as the templates show it: its headlines' times parsed, its
    suggested query's quality as numbers, its components largest first, its history."""
    quality = p.get("quality") if isinstance(p.get("quality"), Mapping) else {}
    assert isinstance(quality, Mapping)
    components = p.get("components") if isinstance(p.get("components"), Mapping) else {}
    assert isinstance(components, Mapping)
    headlines = [
        {**h, "published_at": when(h.get("published_at"))}
        for h in (p.get("headlines") or [])
        if isinstance(h, Mapping)
    ]
    return {
        **p,
        "terms": [str(t) for t in (p.get("terms") or [])],
        "headlines": headlines,
        "outlet_names": sorted({str(h["outlet"]) for h in headlines if h.get("outlet")}),
        "precision": float(quality.get("precision", 0.0)),
        "recall": float(quality.get("recall", 0.0)),
        "recent_matches": int(quality.get("recent_matches", 0)),
        "cluster_matches": int(quality.get("cluster_matches", 0)),
        "components": sorted(
            ((str(k), float(v)) for k, v in components.items()), key=lambda kv: -kv[1]
        ),
        "history": history_summary(p.get("history") or []),
    }


_AUDITED = ("status", "title", "query", "story_id")


def audit_rows(
    events: Iterable[Mapping[str, Any]], story_slugs: Mapping[int, str]
) -> list[dict[str, Any]]:
    """A proposal's audit events for its page: who did what when, the note, and only what
    changed (status, title, query, and the story it went to, by slug)."""

    def shown(key: str, value: Any) -> str:
        if key == "story_id" and value is not None:
            return story_slugs.get(int(value), f"story {value}")
        return "" if value is None else str(value)

    rows = []
    for e in events:
        before = e.get("before") if isinstance(e.get("before"), Mapping) else {}
        after = e.get("after") if isinstance(e.get("after"), Mapping) else {}
        assert isinstance(before, Mapping) and isinstance(after, Mapping)
        changed = [k for k in _AUDITED if before.get(k) != after.get(k)]
        name = {"story_id": "story"}
        rows.append(
            {
                "at": when(e.get("at")),
                "actor": e.get("actor"),
                "action": e.get("action"),
                "note": e.get("note") or "",
                "before": [(name.get(k, k), shown(k, before.get(k))) for k in changed],
                "after": [(name.get(k, k), shown(k, after.get(k))) for k in changed],
            }
        )
    return rows


def term_rows(suggestions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A story's suggested query terms for its review page, most added first, with the
    sample headlines' times parsed."""
    return [
        {
            **s,
            "samples": [
                {**h, "published_at": when(h.get("published_at"))}
                for h in (s.get("samples") or [])
                if isinstance(h, Mapping)
            ],
        }
        for s in suggestions
    ]


def suggest_slug(title: str, taken: Iterable[str] = ()) -> str:
    """A story slug from a headline: its first meaningful words, lowercase ASCII joined by
    '-', at most :data:`SLUG_MAX` characters, ``-2``, ``-3``... when taken."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = [w for w in _WORD.findall(ascii_title.lower()) if w not in _SLUG_SKIP]
    slug = ""
    for word in words[:6]:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > SLUG_MAX:
            break
        slug = longer
    slug = slug or "emerging-story"
    known = set(taken)
    found, n = slug, 2
    while found in known:
        found = f"{slug[: SLUG_MAX - len(str(n)) - 1]}-{n}"
        n += 1
    return found


def field_of(message: str) -> str:
    """Which form field an error message is about (``stories add: slug: ...`` -> slug)."""
    found = _FIELD.search(message)
    return "terms" if found and found.group(1) == "term" else (found.group(1) if found else "")


def decided_in_words(p: Mapping[str, Any]) -> str:
    """Why a proposal takes no decision any more, in words (its status)."""
    slug = p.get("story_slug")
    return {
        "tracked": f"it was tracked as the story “{slug}”.",
        "merged": f"it was merged into the story “{slug}”.",
        "dismissed": "it was dismissed.",
        "expired": "it is no longer among the loudest untracked clusters.",
    }.get(str(p.get("status")), f"it is {p.get('status')}.")


_ONE_TERM = re.compile(r'^(?:"[^"]+"|[^\s"()]+)$')


def merge_options(query: str, terms: Iterable[str]) -> list[str]:
    """What a merge may OR into a story: the suggested query first (in brackets unless it is one
    word or phrase, so ``a AND b`` stays one alternative), then its distinctive terms.

    >>> merge_options('"dam failure" AND thornbury', ['"dam failure"', "thornbury"])
    ['("dam failure" AND thornbury)', '"dam failure"', 'thornbury']
    """
    query = query.strip()
    upper = query.upper().split()
    whole = (
        query if _ONE_TERM.match(query) and upper[0] not in ("AND", "OR", "NOT") else f"({query})"
    )
    return list(dict.fromkeys([whole, *terms]))
