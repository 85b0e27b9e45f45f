"""Syndicated copies: the same article on several feeds, or the same wire story under several
URLs, grouped so that later stages can count it once. Pure: no I/O.

Rule: a web-feed mention joins the group of the earliest stored web-feed mention (lowest id)
that has the same canonical URL, or the same normalised headline (``title_key``) published
within a day of it. Headlines of fewer than three words ("Live updates", "Letters") never group
by title. Social posts (Reddit, Hacker News, Mastodon) are their own signal: never grouped.

The same :class:`Grouper` serves the incremental path (the store, as mentions arrive: seeded
with the stored candidates) and a full rebuild (seeded with nothing, fed every mention in id
order), so the two agree by construction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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


class Grouper:
    """Assigns groups to mentions in id order, given the earlier ones."""

    def __init__(self, earlier: Iterable[Item] = ()) -> None:
        self._by_url: dict[str, list[Item]] = defaultdict(list)
        self._by_title: dict[str, list[Item]] = defaultdict(list)
        for item in sorted(earlier, key=lambda i: i.id):
            self._index(item)

    def _index(self, item: Item) -> None:
        if item.kind not in WEB_KINDS:
            return
        if item.canonical_url:
            self._by_url[item.canonical_url].append(item)
        self._by_title[item.title_key].append(item)

    def add(self, item: Item) -> int:
        """The group id of ``item`` (its own id when it starts a group); remembers it."""
        group = item.id
        if item.kind in WEB_KINDS:
            first: Item | None = None
            if item.canonical_url:
                first = next((e for e in self._by_url[item.canonical_url] if e.id < item.id), None)
            if item.title_words >= MIN_TITLE_WORDS:
                same_title = next(
                    (
                        e
                        for e in self._by_title[item.title_key]
                        if e.id < item.id and abs(e.when - item.when) <= SAME_TITLE_WINDOW
                    ),
                    None,
                )
                if same_title is not None and (first is None or same_title.id < first.id):
                    first = same_title
            if first is not None:
                group = first.group_id or first.id
        self._index(replace(item, group_id=group))
        return group


def assign_groups(items: Iterable[Item]) -> dict[int, int]:
    """A full rebuild: mention id -> group id, for every item."""
    grouper = Grouper()
    return {item.id: grouper.add(item) for item in sorted(items, key=lambda i: i.id)}
