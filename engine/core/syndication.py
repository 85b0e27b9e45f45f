"""Syndicated copies: the same article on several feeds, or the same wire story under several
URLs, grouped so that later stages can count it once. Pure: no I/O.

Rule: a web-feed mention joins the group of an earlier web-feed mention that has the same
canonical URL (the first one ever stored with it), or the same normalised headline
(``title_key``) published within a day of that headline's current group head. Headlines of
fewer than three words ("Live updates", "Letters") never group by title. When both rules
apply, the earlier mention wins. Social posts (Reddit, Hacker News, Mastodon) are their own
signal: never grouped.

The state is one *head* per key: the first mention of a canonical URL, the latest group head
of a headline. :class:`Grouper` keeps those heads; the store persists them
(``syndication_heads``), so the incremental path (seeded with the stored heads of a batch's
keys) and a full rebuild (seeded with nothing, fed every mention in id order) agree by
construction, and each mention costs one lookup per key however many copies exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

WEB_KINDS = frozenset({"rss", "atom"})
SAME_TITLE_WINDOW = timedelta(days=1)
MIN_TITLE_WORDS = 3


@dataclass(frozen=True, slots=True)
class Item:
    """A mention as grouping sees it. ``when`` is its publication (else first-seen) time."""

    id: int
    kind: str
    canonical_url: str | None
    title_key: str
    title_words: int
    when: datetime
    group_id: int | None = None


def url_key(url: str) -> str:
    return "u:" + hashlib.sha1(url.encode()).hexdigest()


def title_head_key(title_key: str) -> str:
    return "t:" + title_key


def keys_of(item: Item) -> list[str]:
    """The head keys an item may be grouped by."""
    if item.kind not in WEB_KINDS:
        return []
    keys = [url_key(item.canonical_url)] if item.canonical_url else []
    if item.title_words >= MIN_TITLE_WORDS:
        keys.append(title_head_key(item.title_key))
    return keys


class Grouper:
    """Assigns groups to mentions in id order; ``heads`` are what it has to remember."""

    def __init__(self, heads: Mapping[str, Item] | None = None) -> None:
        self.heads: dict[str, Item] = dict(heads or {})
        self.changed: set[str] = set()

    def add(self, item: Item) -> int:
        """The group id of ``item`` (its own id when it starts a group)."""
        keys = keys_of(item)
        candidates = []
        for key in keys:
            head = self.heads.get(key)
            if head is None or head.id >= item.id:
                continue
            if key.startswith("t:") and abs(head.when - item.when) > SAME_TITLE_WINDOW:
                continue
            candidates.append(head)
        first = min(candidates, key=lambda h: h.id, default=None)
        group = (first.group_id or first.id) if first is not None else item.id
        grouped = replace(item, group_id=group)
        for key in keys:
            head = self.heads.get(key)
            stale_title = (
                key.startswith("t:")
                and head is not None
                and abs(head.when - item.when) > SAME_TITLE_WINDOW
            )
            if head is None or stale_title:
                self.heads[key] = grouped
                self.changed.add(key)
        return group


def assign_groups(items: Iterable[Item]) -> dict[int, int]:
    """A full rebuild: mention id -> group id, for every item."""
    grouper = Grouper()
    return {item.id: grouper.add(item) for item in sorted(items, key=lambda i: i.id)}
