"""Clustering the stream as it is stored (issue 14 section 1): every mention, matched or not,
joins an event cluster of the online clusterer (:class:`noisecast.engine.core.cluster.
OnlineClusterer`), once, in id order; syndicated copies (one ``group_id``) count once.

**State.** The clusterer's state (``OnlineClusterer.state()``), the ``cursor`` (the highest
mention id clustered) and the id ranges skipped below it are one ``cluster_state`` row, saved on
the version it was loaded at (:meth:`Store.save_cluster_state`). Each run adds the mentions
after the cursor and saves, in one transaction; a crash before the save loses the run's work and
the next run redoes it from the saved state, so a mention is never clustered twice nor skipped.
Two workers that loaded the same version race: the loser's save writes nothing, and it reloads
the winner's state and redoes its batch. A process keeps the loaded clusterer between runs and
reloads it only when the saved version is not its own.

**Skipped ids.** On PostgreSQL ids are handed out when a row is inserted but seen when its
transaction commits, so two collectors can commit ids out of order, and an upsert that updates
spends an id too: an id below the newest one seen may still turn up. Such gaps are remembered as
id ranges and looked at again on every run for ``HOLE_SECONDS``, then forgotten.

**Ageing.** Clusters whose newest mention is older than ``emerging.window_hours`` before ``now``
are dropped with their mentions, so the state stays the size of the window.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from noisecast.engine.config import Settings
from noisecast.engine.core.cluster import ClusterParams, OnlineClusterer
from noisecast.engine.errors import StorageError
from noisecast.engine.store import Store

log = logging.getLogger("noisecast.emerging")
JOB = "cluster"
BATCH = 20_000  # mentions per load-add-save round
HOLE_SECONDS = 900.0  # how long a skipped id is looked for again
MAX_HOLES = 5_000  # id ranges remembered at most (the oldest go first)
MAX_RETRIES = 5
FORMAT = 1


@dataclass(frozen=True, slots=True)
class ClusterRunReport:
    """``added``: mentions clustered; ``expired``: clusters aged out; ``clusters``: live ones
    after the run; ``cursor``: the highest mention id clustered; ``retries``: saves lost to
    another worker (each redone)."""

    added: int
    expired: int
    clusters: int
    cursor: int
    retries: int

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "expired": self.expired,
            "clusters": self.clusters,
            "cursor": self.cursor,
            "retries": self.retries,
        }


@dataclass
class _Loaded:
    version: int
    cursor: int
    clusterer: OnlineClusterer
    holes: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last, noticed)
    unsettled: int = 0  # mentions added since the last flush


_cache: dict[str, _Loaded] = {}
_lock = threading.Lock()  # a collector thread and the cycle's thread share the cached clusterer


def encode_state(loaded: _Loaded) -> bytes:
    doc = {
        "format": FORMAT,
        "clusterer": loaded.clusterer.state(),
        "holes": [list(h) for h in loaded.holes],
        "unsettled": loaded.unsettled,
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), 6)


def decode_state(blob: bytes) -> tuple[OnlineClusterer, list[tuple[int, int, str]], int]:
    """The clusterer, the remembered gaps and how many mentions wait for a flush."""
    try:
        doc = json.loads(zlib.decompress(blob).decode("utf-8"))
        holes = [(int(a), int(b), str(c)) for a, b, c in doc.get("holes", [])]
        unsettled = int(doc.get("unsettled", 0))
        return OnlineClusterer.from_state(doc["clusterer"]), holes, unsettled
    except (ValueError, KeyError, TypeError, zlib.error) as e:
        raise StorageError(
            f"cluster_state: the saved clusterer cannot be read ({type(e).__name__}: {e}); "
            "delete the cluster_state row to start clustering again from new mentions"
        ) from e


def cluster_params(settings: Settings) -> ClusterParams:
    return ClusterParams(window=timedelta(hours=settings.emerging.window_hours))


def _key(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _load(store: Store, settings: Settings) -> _Loaded:
    """The saved clusterer, from this process's cache when it is the saved version."""
    key = _key(store)
    cached = _cache.get(key)
    if cached is not None and cached.version == store.cluster_state_version():
        return cached
    version, cursor, blob = store.load_cluster_state()
    if blob is None:
        loaded = _Loaded(version, cursor, OnlineClusterer(cluster_params(settings)))
    else:
        clusterer, holes, unsettled = decode_state(blob)
        loaded = _Loaded(version, cursor, clusterer, holes, unsettled)
    _cache[key] = loaded
    return loaded


def forget_cached(store: Store) -> None:
    """Drop this process's copy of the clusterer (the next run loads the saved one)."""
    with _lock:
        _cache.pop(_key(store), None)


def loaded_clusterer(store: Store, settings: Settings) -> OnlineClusterer:
    """The saved clusterer as this process holds it (read it, do not change it)."""
    with _lock:
        return _load(store, settings).clusterer


def cluster_new_mentions(
    store: Store, settings: Settings, *, now: datetime, batch: int = BATCH, flush: bool = False
) -> ClusterRunReport:
    """Add every stored mention not yet clustered to the clusterer, age out the clusters
    older than the window, and save (see the module's docstring). Idempotent: a second run
    with nothing new adds nothing.

    ``flush`` (the hourly cycle, before the hour's proposals): every mention still waiting for
    its delayed second look gets it now, so an hour's proposals read settled clusters even when
    fewer than ``recheck_after`` mentions came in since."""
    with _lock:
        try:
            return _run(store, settings, now=now, batch=batch, flush=flush)
        except BaseException:
            _cache.pop(_key(store), None)  # its clusterer may hold what was not saved
            raise


def _run(
    store: Store, settings: Settings, *, now: datetime, batch: int, flush: bool
) -> ClusterRunReport:
    added = expired = retries = 0
    before = now - timedelta(hours=settings.emerging.window_hours)
    while True:
        loaded = _load(store, settings)
        rows, cursor, holes = _next_rows(store, loaded, now, batch)
        n = _add(loaded.clusterer, rows, before)
        unsettled = loaded.unsettled + n
        settle = flush and len(rows) < batch and unsettled > 0
        if settle:
            loaded.clusterer.flush()
            unsettled = 0
        gone = len(loaded.clusterer.expire(before))
        if not (n or gone or settle) and cursor == loaded.cursor and holes == loaded.holes:
            break  # nothing to save
        fresh = _Loaded(loaded.version, cursor, loaded.clusterer, holes, unsettled)
        if store.save_cluster_state(loaded.version, cursor, encode_state(fresh), now=now):
            fresh.version = loaded.version + 1
            _cache[_key(store)] = fresh
            added += n
            expired += gone
            if len(rows) < batch:
                break
            continue
        _cache.pop(_key(store), None)  # another worker saved first: redo from theirs
        retries += 1
        log.info("clusterer saved by another worker: redoing", extra={"job": JOB})
        if retries >= MAX_RETRIES:
            raise StorageError(
                f"cluster_state: lost {retries} saves in a row to other workers; the "
                "mentions stay for the next run"
            )
    loaded = _cache[_key(store)]
    report = ClusterRunReport(added, expired, len(loaded.clusterer), loaded.cursor, retries)
    if added or expired:
        log.info(
            "clustered %d mentions (%d clusters aged out, %d live)",
            added,
            expired,
            report.clusters,
            extra={"job": JOB},
        )
    return report


def _next_rows(
    store: Store, loaded: _Loaded, now: datetime, batch: int
) -> tuple[list[dict[str, Any]], int, list[tuple[int, int, str]]]:
    """The mentions to add (after the cursor, and any found in the remembered gaps), the new
    cursor and the gaps still open."""
    keep_after = now - timedelta(seconds=HOLE_SECONDS)
    holes = [h for h in loaded.holes if datetime.fromisoformat(h[2]) >= keep_after]
    rows = store.mentions_after(loaded.cursor, batch, also=[(a, b) for a, b, _ in holes])
    found = {int(r["id"]) for r in rows}
    open_holes: list[tuple[int, int, str]] = []
    for first, last, noticed in holes:  # split each remembered range around what turned up
        start = first
        for i in sorted(m for m in found if first <= m <= last):
            if i > start:
                open_holes.append((start, i - 1, noticed))
            start = i + 1
        if start <= last:
            open_holes.append((start, last, noticed))
    newer = sorted(m for m in found if m > loaded.cursor)
    expected = loaded.cursor + 1
    stamp = now.isoformat()
    for i in newer:
        if i > expected:
            open_holes.append((expected, i - 1, stamp))
        expected = i + 1
    cursor = newer[-1] if newer else loaded.cursor
    return rows, cursor, open_holes[-MAX_HOLES:]


def _add(clusterer: OnlineClusterer, rows: list[dict[str, Any]], before: datetime) -> int:
    """Add the rows in id order; mentions older than the window are not added (they would
    age out at once). Returns how many were added."""
    n = 0
    for r in rows:
        at = r["published_at"]
        if at is not None and at < before:
            continue
        group = None if r["group_id"] is None else str(r["group_id"])
        try:
            clusterer.add(
                int(r["id"]), r["title"] or "", r["url"], r["summary"] or None, at=at, group=group
            )
        except ValueError:  # already clustered (a gap that was not one): keep the first
            continue
        n += 1
    return n


def cluster_after_collection(
    store: Store, settings: Settings, *, now: datetime
) -> ClusterRunReport | None:
    """:func:`cluster_new_mentions` after a collection run, when ``[emerging] enabled``: a
    failure is logged and never fails the collection (the next run, or the cycle, catches up)."""
    if not settings.emerging.enabled:
        return None
    try:
        return cluster_new_mentions(store, settings, now=now)
    except Exception as e:
        log.warning("clustering failed: %s: %s", type(e).__name__, e, extra={"job": JOB})
        return None
