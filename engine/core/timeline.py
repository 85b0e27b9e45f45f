"""The signal Timeline of a story: which moments of its life the stored signals show, each as
a proposed entry (a short title, one sentence written from the data, a link and the evidence)
that editors approve, edit or hide. Pure: frames in, proposals out; no I/O, no clock.

The rules (``docs/timeline.md`` says the same in prose), one entry each, keyed so that the
hourly job can recompute them and keep an entry's identity (``engine/store/_timeline.py``):

``first_seen``
    The earliest mention (time, then mention id): its outlet, headline and link.
``first_major``
    The earliest web mention from an outlet of tier ``major`` (``[[outlets]]`` in config; a host
    matches itself and its subdomains), with the outlet's name from config. Left out when it is
    the first-seen mention itself (that entry then names the major outlet).
``social_pickup``
    Social mentions (kinds reddit, hackernews, mastodon) counted per hour: the first hour whose
    count reaches ``max(social_min_mentions, social_factor x the mean count per hour over the
    social_baseline_hours before it)``. At: the mention that reached it. Names the platforms
    of that hour and its top post by engagement (as the caller measured it: the job passes
    each post's engagement by the end of its own hour, so the sentence does not drift).
``level:Moderate``, ``level:High``, ``level:Very high``
    The first scored hour whose stored level is at least that level (a jump from Low to Very
    high gives all three, at the same hour).
``quiet``
    The first hour scored Quiet after the story had been Moderate or above.
``peak``
    The loudest scored hour so far (ties: the earliest), while it is above Quiet. It moves as the
    story rises: the same entry, updated.

Score-based entries are ``at`` the end of their hour (when the score was known); ``evidence``
keeps the hour. Feed text stays data (escaping is the templates' job) but loses control
characters, and a headline is cut to :data:`HEADLINE_MAX` characters. :func:`propose_timeline`
never raises on odd frames: rows it cannot read are left out.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from noisecast.engine.core._timeline_frames import (
    HEADLINE_MAX,
    NAME_MAX,
    Mention,
    Score,
    clean_text,
    read_mentions,
    read_scores,
)
from noisecast.engine.core._timeline_review import (
    MAX_TEXT,
    MAX_TITLE,
    change_note,
    check_entry,
    conflict_message,
)
from noisecast.engine.schema import LEVELS, SOCIAL_KINDS

if TYPE_CHECKING:
    from noisecast.engine.config import Settings

__all__ = [
    "HEADLINE_MAX",
    "KINDS",
    "LEVEL_KEYS",
    "MAX_TEXT",
    "MAX_TITLE",
    "TEXTS",
    "TITLES",
    "Proposal",
    "TimelineParams",
    "change_note",
    "check_entry",
    "clean_text",
    "conflict_message",
    "propose_timeline",
]

KINDS = ("first_seen", "first_major", "social_pickup", "level", "quiet", "peak", "editor")
LEVEL_STEPS = ("Moderate", "High", "Very high")  # the levels whose first hour is an entry
LEVEL_KEYS = tuple(f"level:{level}" for level in LEVEL_STEPS)
BREADTH_HOURS = 6  # "with 16 outlets in 6 hours": the hours up to the end of the scored one
EVIDENCE_IDS = 50  # mention ids kept in an entry's evidence

# --- the templates: every word a proposal says is here -----------------------------------------

TITLES = {
    "first_seen": "First seen",
    "first_major": "Major outlet report",
    "social_pickup": "Picked up on social",
    "level": "Reached {level}",
    "quiet": "Back to Quiet",
    "peak": "Peak",
}
TEXTS = {
    "first_seen": "{outlet} first reported it{headline}.",
    "first_seen_unnamed": "It was first seen in a report{headline}.",
    "first_seen_social": "It was first seen on {platform}{where}{headline}.",
    "first_major": "{outlet} publishes a report{headline}.",
    "social_pickup": "{platforms} {pick} up the story with {posts} in an hour{top}.",
    "social_top": "; the top post, “{headline}”, drew {reactions}",
    "social_top_untitled": "; the top post drew {reactions}",
    "level": "The noise level reached {level} ({score}){breadth}.",
    "level_past": "The noise level went straight to {level} ({score}), past {step}{breadth}.",
    "quiet": "The noise level fell back to Quiet ({score}), {span} after it first reached "
    "Moderate.",
    "peak": "The story was at its loudest so far: {score} ({level}){breadth}.",
    "peak_breadth": ", with {outlets} in {hours} hours",
    "breadth": " with {outlets} in {hours} hours",
    "headline": ": “{headline}”",
}
PLATFORMS = {"reddit": "Reddit", "hackernews": "Hacker News", "mastodon": "Mastodon"}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _span(delta: timedelta) -> str:
    hours = max(0, int(delta.total_seconds() // 3600))
    return _plural(hours, "hour") if hours < 48 else _plural(hours // 24, "day")


def _score_words(score: float) -> str:
    # floored, so a score never reads as the next level's threshold (79.6 is High, not "80")
    return str(math.floor(score))


# --- the records -------------------------------------------------------------------------------


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed Timeline entry. ``key`` names the rule (unique per story); ``at`` is aware
    UTC; ``link`` is http(s) or None; ``evidence`` is JSON-able."""

    key: str
    kind: str
    at: datetime
    title: str
    text: str
    link: str | None
    evidence: dict[str, Any]

    @property
    def evidence_hash(self) -> str:
        """sha256 of a canonical JSON of (at, title, text, link, evidence): equal hashes, the
        same entry (the hourly job then writes nothing)."""
        canonical = json.dumps(
            _json_ready([self.at, self.title, self.text, self.link, self.evidence]),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class TimelineParams:
    """The rules' settings (``[timeline]`` and ``[[outlets]]`` in config). ``major_outlets``
    maps the hosts of tier ``major`` to their display names; ``outlet_names`` every configured
    host (any tier) to its name, for the first-seen sentence."""

    social_min_mentions: int = 3
    social_factor: float = 3.0
    social_baseline_hours: int = 24
    major_outlets: Mapping[str, str] = field(default_factory=dict)
    outlet_names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> TimelineParams:
        t = settings.timeline
        names = {o.host: o.name or o.host for o in settings.outlets}
        major = {o.host: o.name or o.host for o in settings.outlets if o.tier == "major"}
        return cls(
            social_min_mentions=t.social_min_mentions,
            social_factor=t.social_factor,
            social_baseline_hours=t.social_baseline_hours,
            major_outlets=major,
            outlet_names=names,
        )


# --- the rules ---------------------------------------------------------------------------------


def _host(m: Mention) -> str:
    host = m.outlet.lower()
    if (not host or "/" in host) and m.url:
        host = (urlsplit(m.url).hostname or "").lower()
    return host.removeprefix("www.")


def _configured(host: str, names: Mapping[str, str]) -> tuple[str, str] | None:
    """(configured host, name) of the most specific configured host that ``host`` is or is
    a subdomain of."""
    found = [h for h in names if host == h or host.endswith("." + h)]
    if not found:
        return None
    best = max(found, key=lambda h: (len(h), h))
    return best, clean_text(names[best], NAME_MAX) or best


def _headline(title: str) -> str:
    return TEXTS["headline"].format(headline=title) if title else ""


def _mention_evidence(m: Mention) -> dict[str, Any]:
    return {
        "mention_id": m.id,
        "when": m.when.isoformat(),
        "kind": m.kind,
        "outlet": m.outlet,
        "url": m.url,
    }


def _first_seen(first: Mention, params: TimelineParams) -> Proposal:
    host = _host(first)
    major = _configured(host, params.major_outlets) if first.kind not in SOCIAL_KINDS else None
    named = major or _configured(host, params.outlet_names)
    if first.kind in SOCIAL_KINDS:
        where = ""
        if first.kind == "reddit" and first.outlet:
            where = f", in {first.outlet}"
        elif first.kind == "mastodon" and first.outlet:
            where = f" ({first.outlet})"
        text = TEXTS["first_seen_social"].format(
            platform=PLATFORMS[first.kind], where=where, headline=_headline(first.title)
        )
    elif named or host:
        outlet = named[1] if named else host
        text = TEXTS["first_seen"].format(outlet=outlet, headline=_headline(first.title))
    else:
        text = TEXTS["first_seen_unnamed"].format(headline=_headline(first.title))
    evidence = _mention_evidence(first) | {"major": major is not None}
    return Proposal(
        "first_seen", "first_seen", first.when, TITLES["first_seen"], text, first.url, evidence
    )


def _first_major(mentions: Sequence[Mention], params: TimelineParams) -> Proposal | None:
    if not params.major_outlets:
        return None
    for i, m in enumerate(mentions):
        if m.kind in SOCIAL_KINDS:
            continue
        major = _configured(_host(m), params.major_outlets)
        if major is None:
            continue
        if i == 0:  # the first-seen entry already names it
            return None
        text = TEXTS["first_major"].format(outlet=major[1], headline=_headline(m.title))
        evidence = _mention_evidence(m) | {"major_host": major[0], "name": major[1]}
        return Proposal(
            "first_major", "first_major", m.when, TITLES["first_major"], text, m.url, evidence
        )
    return None


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _social_pickup(mentions: Sequence[Mention], params: TimelineParams) -> Proposal | None:
    by_hour: dict[datetime, list[Mention]] = {}
    for m in mentions:
        if m.kind in SOCIAL_KINDS:
            by_hour.setdefault(_hour(m.when), []).append(m)
    window = max(1, int(params.social_baseline_hours))
    floor = max(1, int(params.social_min_mentions))
    factor = max(0.0, float(params.social_factor))
    for hour in sorted(by_hour):
        posts = by_hour[hour]
        before = sum(len(by_hour.get(hour - timedelta(hours=k), ())) for k in range(1, window + 1))
        baseline = before / window
        threshold = max(float(floor), factor * baseline)
        if len(posts) < threshold:
            continue
        reached = posts[max(0, math.ceil(threshold) - 1)]
        top = max(posts, key=lambda p: (p.engagement, -p.when.timestamp(), -(p.id or 0)))
        platforms = [PLATFORMS[k] for k in SOCIAL_KINDS if any(p.kind == k for p in posts)]
        reactions = _plural(int(top.engagement), "reaction")
        top_words = ""
        if top.title:
            top_words = TEXTS["social_top"].format(headline=top.title, reactions=reactions)
        elif top.engagement >= 1:
            top_words = TEXTS["social_top_untitled"].format(reactions=reactions)
        text = TEXTS["social_pickup"].format(
            platforms=_and(platforms),
            pick="picks" if len(platforms) == 1 else "pick",
            posts=_plural(len(posts), "post"),
            top=top_words,
        )
        ids = sorted(p.id for p in posts if p.id is not None)
        evidence = {
            "hour": hour.isoformat(),
            "posts": len(posts),
            "baseline": round(baseline, 3),
            "threshold": round(threshold, 3),
            "platforms": platforms,
            "mention_ids": ids[:EVIDENCE_IDS],
            "top": {"mention_id": top.id, "engagement": top.engagement, "url": top.url},
        }
        return Proposal(
            "social_pickup",
            "social_pickup",
            reached.when,
            TITLES["social_pickup"],
            text,
            top.url,
            evidence,
        )
    return None


class _Breadth:
    """Distinct outlets of the mentions in the ``BREADTH_HOURS`` hours up to an hour's end."""

    def __init__(self, mentions: Iterable[Mention]) -> None:
        self.by_hour: dict[datetime, set[str]] = {}
        for m in mentions:
            if m.outlet:
                self.by_hour.setdefault(_hour(m.when), set()).add(m.outlet)

    def outlets(self, row: Score) -> int:
        if row.outlets is not None:
            return max(0, row.outlets)
        found: set[str] = set()
        for k in range(BREADTH_HOURS):
            found |= self.by_hour.get(_hour(row.hour) - timedelta(hours=k), set())
        return len(found)

    def words(self, row: Score, template: str = "breadth") -> str:
        n = self.outlets(row)
        if n == 0:
            return ""
        return TEXTS[template].format(outlets=_plural(n, "outlet"), hours=BREADTH_HOURS)


def _score_evidence(row: Score, breadth: _Breadth) -> dict[str, Any]:
    return {
        "hour": row.hour.isoformat(),
        "score": round(row.score, 2),
        "level": LEVELS[row.rank],
        "outlets": breadth.outlets(row),
        "outlets_hours": BREADTH_HOURS,
    }


def _levels(scores: Sequence[Score], breadth: _Breadth) -> list[Proposal]:
    out = []
    for step in LEVEL_STEPS:
        rank = LEVELS.index(step)
        row = next((r for r in scores if r.rank >= rank), None)
        if row is None:
            continue
        level = LEVELS[row.rank]
        template = "level" if row.rank == rank else "level_past"
        text = TEXTS[template].format(
            level=level, score=_score_words(row.score), step=step, breadth=breadth.words(row)
        )
        evidence = _score_evidence(row, breadth) | {"target": step}
        out.append(
            Proposal(
                f"level:{step}",
                "level",
                row.hour + timedelta(hours=1),
                TITLES["level"].format(level=step),
                text,
                None,
                evidence,
            )
        )
    return out


def _quiet(scores: Sequence[Score], breadth: _Breadth) -> Proposal | None:
    moderate = LEVELS.index("Moderate")
    loud = next((r for r in scores if r.rank >= moderate), None)
    if loud is None:
        return None
    row = next((r for r in scores if r.hour > loud.hour and r.rank == 0), None)
    if row is None:
        return None
    text = TEXTS["quiet"].format(score=_score_words(row.score), span=_span(row.hour - loud.hour))
    evidence = _score_evidence(row, breadth) | {"since": loud.hour.isoformat()}
    return Proposal(
        "quiet", "quiet", row.hour + timedelta(hours=1), TITLES["quiet"], text, None, evidence
    )


def _peak(scores: Sequence[Score], breadth: _Breadth) -> Proposal | None:
    if not scores:
        return None
    row = min(scores, key=lambda r: (-r.score, r.hour))  # the loudest, ties: the earliest
    if row.rank == 0:
        return None
    text = TEXTS["peak"].format(
        score=_score_words(row.score),
        level=LEVELS[row.rank],
        breadth=breadth.words(row, "peak_breadth"),
    )
    return Proposal(
        "peak",
        "peak",
        row.hour + timedelta(hours=1),
        TITLES["peak"],
        text,
        None,
        _score_evidence(row, breadth),
    )


def propose_timeline(
    mentions: pd.DataFrame, scores: pd.DataFrame, params: TimelineParams
) -> list[Proposal]:
    """The proposed entries of one story, in time order (then key).

    ``mentions``: columns mention_id, when (aware UTC), kind, outlet, title, url, engagement.
    ``scores``: columns as_of (aware UTC hour), score, level, and optionally outlets (the
    outlets of the 6 hours up to the end of that hour; else counted from ``mentions``).
    Pure, deterministic and insensitive to row order; rows it cannot read are left out."""
    rows = read_mentions(mentions)
    scored = read_scores(scores)
    breadth = _Breadth(rows)
    found: list[Proposal | None] = []
    if rows:
        found += [_first_seen(rows[0], params), _first_major(rows, params)]
        found.append(_social_pickup(rows, params))
    found += [*_levels(scored, breadth), _quiet(scored, breadth), _peak(scored, breadth)]
    return sorted((p for p in found if p is not None), key=lambda p: (p.at, p.key))
