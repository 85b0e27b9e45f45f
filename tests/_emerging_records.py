"""TEMPORARY: the contract's records of engine/core/emerging.py, until it lands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Headline:
    mention_id: int
    title: str
    url: str | None
    outlet: str | None
    published_at: datetime


@dataclass(frozen=True)
class QueryQuality:
    precision: float
    recall: float
    recent_matches: int
    cluster_matches: int


@dataclass(frozen=True)
class QuerySuggestion:
    query: str
    quality: QueryQuality
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    cluster: int
    title: str
    headlines: tuple[Headline, ...]
    size: int
    outlets: int
    first_seen: datetime
    last_seen: datetime
    score: float
    level: str
    components: dict[str, float]
    history: tuple[tuple[datetime, float], ...]
    suggestion: QuerySuggestion


@dataclass(frozen=True)
class TermSuggestion:
    story: str
    cluster: int
    term: str
    adds: int
    adds_elsewhere: int
    samples: tuple[Headline, ...]
