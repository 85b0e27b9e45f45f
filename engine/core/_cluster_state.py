"""The online clusterer's state as JSON-able values (internal to ``engine.core.cluster``).

Everything is lists, numbers, strings and None: token counts are ``[token, count]`` pairs, not
objects, so their order (which decides ties and the order of float sums) survives a store that
sorts object keys (PostgreSQL's JSONB does). Times are ISO 8601 strings; the window is
``[days, seconds, microseconds]``. ``load_state`` then gives identical later assignments.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from noisecast.engine.core._cluster_model import Cluster, Pending

if TYPE_CHECKING:
    from noisecast.engine.core.cluster import OnlineClusterer

VERSION = 1


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def dump_state(c: OnlineClusterer) -> dict[str, Any]:
    params: dict[str, Any] = {f.name: getattr(c.params, f.name) for f in fields(c.params)}
    window = c.params.window
    params["window"] = [window.days, window.seconds, window.microseconds]
    return {
        "version": VERSION,
        "params": params,
        "seen": c.seen,
        "next_id": c.next_id,
        "latest_at": _time(c.latest_at),
        "clusters": [
            [
                cid,
                k.size,
                k.length,
                [[t, n] for t, n in k.counts.items()],
                k.last_seq,
                _time(k.last_at),
                sorted(k.members),
            ]
            for cid, k in c._clusters.items()
        ],
        "copies": [[head, list(copies)] for head, copies in c._copies.items() if copies],
        "groups": [[key, head] for key, head in c._groups.items()],
        "pending": [
            [p.seq, p.mention_id, [[t, n] for t, n in p.tf.items()], _time(p.at)]
            for p in c._pending
        ],
        "ageing": [[seq, _time(at), cid] for seq, at, cid in c._ageing],
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
    for cid, size, length, counts, last_seq, last_at, members in state["clusters"]:
        k = Cluster()
        k.size, k.length, k.last_seq, k.last_at = size, length, last_seq, _parse(last_at)
        k.counts = {t: n for t, n in counts}
        k.members = set(members)
        c._clusters[cid] = k
        for token, n in k.counts.items():
            c._postings.setdefault(token, {})[cid] = n
        for m in members:
            c._assigned[m] = cid
            c._copies[m] = []
    for head, copies in state["copies"]:
        c._copies[head] = list(copies)
        for copy in copies:
            c._copy_of[copy] = head
    for key, head in state["groups"]:
        c._groups[key] = head
        c._group_of[head] = key
    c._pending = deque(
        Pending(seq, m, {t: n for t, n in tf}, _parse(at)) for seq, m, tf, at in state["pending"]
    )
    c._ageing = deque((seq, _parse(at), cid) for seq, at, cid in state["ageing"])
