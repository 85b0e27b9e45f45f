"""The online clusterer's state as JSON-able values (internal to ``engine.core.cluster``).

Everything is lists, numbers, strings and None, never objects keyed by token, so every order
that decides ties and the order of float sums survives a store that sorts object keys
(PostgreSQL's JSONB does). Each token is written once, in ``tokens``; counts are flat
``[token index, count, token index, count, ...]`` lists. Times are ISO 8601 strings; the window
is ``[days, seconds, microseconds]``. ``load_state`` then gives identical later assignments.

Version 2 (per-mention expiry) keeps each live mention's tokens and its place in the expiry
queues; a version 1 state cannot be read (it has no per-mention tokens).
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields
from datetime import datetime, timedelta
from sys import intern
from typing import TYPE_CHECKING, Any

from noisecast.engine.core._cluster_model import Cluster, Pending

if TYPE_CHECKING:
    from noisecast.engine.core.cluster import OnlineClusterer

VERSION = 2


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class _Vocabulary:
    """Token -> index, numbered in the order first written (so the numbering is canonical)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def flat(self, counts: dict[str, int]) -> list[int]:
        out: list[int] = []
        index = self.index
        for token, n in counts.items():
            i = index.get(token)
            if i is None:
                i = index[token] = len(index)
            out += (i, n)
        return out


def dump_state(c: OnlineClusterer) -> dict[str, Any]:
    params: dict[str, Any] = {f.name: getattr(c.params, f.name) for f in fields(c.params)}
    window = c.params.window
    params["window"] = [window.days, window.seconds, window.microseconds]
    vocab = _Vocabulary()
    clusters = [
        [
            cid,
            k.size,
            k.length,
            vocab.flat(k.counts),
            _time(k.last_at),
            [[m, vocab.flat(c._tf[m])] for m in sorted(k.members)],
        ]
        for cid, k in c._clusters.items()
    ]
    return {
        "version": VERSION,
        "params": params,
        "seen": c.seen,
        "next_id": c.next_id,
        "latest_at": _time(c.latest_at),
        "tokens": list(vocab.index),
        "clusters": clusters,
        "copies": [[head, list(copies)] for head, copies in c._copies.items()],
        "groups": [[key, head] for key, head in c._groups.items()],
        "pending": [[p.seq, p.mention_id, _time(p.at)] for p in c._pending],
        "timed": [[_time(at), m] for at, m in c._timed],
        "untimed": [[seq, m] for seq, m in c._untimed],
    }


def params_from_state(state: dict[str, Any]) -> dict[str, Any]:
    """The ``ClusterParams`` keyword arguments of a state, after checking its version."""
    if not isinstance(state, dict) or state.get("version") != VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"clusterer state version {found!r} is not {VERSION}: start a new clusterer "
            "(OnlineClusterer(params)) and let it learn from the next mentions"
        )
    values = dict(state["params"])
    days, seconds, micro = values.pop("window")
    values["window"] = timedelta(days, seconds, micro)
    return values


def load_state(c: OnlineClusterer, state: dict[str, Any]) -> None:
    c.seen = state["seen"]
    c.next_id = state["next_id"]
    c.latest_at = _parse(state["latest_at"])
    tokens = [intern(t) for t in state["tokens"]]

    def counts(flat: list[int]) -> dict[str, int]:
        return {tokens[flat[i]]: flat[i + 1] for i in range(0, len(flat), 2)}

    for cid, size, length, flat, last_at, members in state["clusters"]:
        k = Cluster()
        k.size, k.length, k.last_at = size, length, _parse(last_at)
        k.counts = counts(flat)
        c._clusters[cid] = k
        for token, n in k.counts.items():
            c._postings.setdefault(token, {})[cid] = n
        for m, tf in members:
            k.members.add(m)
            c._assigned[m] = cid
            c._tf[m] = counts(tf)
    for head, copies in state["copies"]:
        c._copies[head] = list(copies)
        for copy in copies:
            c._copy_of[copy] = head
    for key, head in state["groups"]:
        c._groups[key] = head
        c._group_of[head] = key
    c._pending = deque(Pending(seq, m, _parse(at)) for seq, m, at in state["pending"])
    c._timed = [(datetime.fromisoformat(at), m) for at, m in state["timed"]]
    c._untimed = deque((seq, m) for seq, m in state["untimed"])
