"""Online event clustering of mentions: which story is each headline about, learnt as they come.

A one-pass Dirichlet-process mixture of multinomials over headline tokens (MStream-like;
``engine.core._cluster_text.tokens``): each mention joins the cluster that maximises
``log size + log p(tokens | cluster)`` unless a new cluster, with mass ``alpha * live mentions``
(or a constant ``new_mass``), scores higher. Three repairs on one pass:

- candidates come from an inverted index: the clusters sharing a token held by at most
  ``max_postings`` live clusters (a common word says nothing about the event; it still counts
  in the score of the clusters found through the rare ones);
- each mention is taken out and placed again ``recheck_after`` mentions later, when its cluster
  has grown (if the second look would open a new cluster it stays where it was);
- a cluster reaching 4, 8, ..., 32, then 64, 128, ... mentions merges with the candidate sharing
  its heaviest tokens if the log Bayes factor of one cluster against two exceeds
  ``merge_threshold``.

**Speed.** A cluster's score differs from an empty cluster's only in the tokens they share, so
each candidate costs its shared postings and two ``lgamma`` calls, read from postings that hold
the counts; tokens are interned strings.

**Expiry, per mention.** Every mention older than ``window`` before the newest mention time
(``window_mentions`` counted mentions for mentions given without a time) leaves its cluster:
its token counts are subtracted, a token leaves the index when no live cluster holds it, and a
cluster that empties is gone. A long-running cluster so holds only the window's mentions, and
memory stays flat however long the stream. ``cluster_of`` raises KeyError for an expired
mention. The new-cluster mass follows the live mentions, so it is bounded too. A syndicated
group counts once while any of its mentions is live: when its counted mention expires, its
oldest live copy takes its place.

Syndicated copies passed with the same ``group`` join their first mention's cluster and count
once. Pure: times and ids are arguments; ``state()``/``from_state`` round-trip exactly.

From scikit-learn: the English stop words (``ENGLISH_STOP_WORDS``) the tokens drop; the rest
(the folding of ``engine.core._text``, word pairs, the slug and summary words) is ours, because
a vectoriser refitted per mention would cost the online pass its speed (measured in
``bench/discovery.py``).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import lgamma, log
from sys import intern
from typing import Any

from noisecast.engine.core._cluster_model import (
    Cluster,
    Pending,
    log_marginal,
    log_merge_gain,
    merge_due,
    shared_gain,
)
from noisecast.engine.core._cluster_state import dump_state, load_state, params_from_state
from noisecast.engine.core._cluster_text import tokens

__all__ = ["ClusterParams", "ClusterSummary", "OnlineClusterer", "tokens"]

STATE_VERSION = 1
ONCE_TABLE = 256  # shared_gain(n, 1) is looked up for counts below this
MERGE_TOP_TERMS = 8  # a cluster looks for merges among clusters sharing its heaviest tokens,
MERGE_PARTNERS = 16  # the ones holding the most of them


@dataclass(frozen=True)
class ClusterParams:
    """The clusterer's settings; the defaults are the production ones (``bench/discovery.py``
    measures them).

    ``new_mass``: a constant new-cluster mass; the default, ``None``, is ``alpha`` times the
    mentions live in the window (the mass the quality was tuned with, bounded by the window).
    ``max_vocab``: the prior's vocabulary is the live index's tokens, at most this many (the
    labelled headlines have 17,787; a vocabulary that grows with a big live set, or with junk
    tokens, makes every cluster look alike and merges run away, measured in the bench).
    ``window``: how long a mention stays (by its time); ``window_mentions``: how many counted
    mentions an untimed mention stays for.
    """

    alpha: float = 0.3
    beta: float = 0.2
    new_mass: float | None = None
    recheck_after: int = 1000
    merge_threshold: float | None = 150.0
    max_postings: int = 100
    max_vocab: int = 20_000
    window: timedelta = timedelta(hours=48)
    window_mentions: int = 200_000

    def __post_init__(self) -> None:
        if self.alpha <= 0 or self.beta <= 0 or (self.new_mass is not None and self.new_mass <= 0):
            raise ValueError("alpha, beta and new_mass must be positive")
        if (
            self.recheck_after < 0
            or min(self.max_postings, self.max_vocab, self.window_mentions) < 1
        ):
            raise ValueError(
                "recheck_after >= 0, and max_postings, max_vocab and window_mentions >= 1"
            )
        if self.window <= timedelta(0):
            raise ValueError("window must be a positive timedelta")


@dataclass(frozen=True)
class ClusterSummary:
    """A live cluster: ``size`` counts a syndicated group once, ``mention_ids`` holds every copy."""

    id: int
    size: int
    mention_ids: tuple[int, ...]
    top_terms: tuple[str, ...]
    last_at: datetime | None


class OnlineClusterer:
    """Assign mentions to event clusters one at a time; see the module's docstring."""

    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = params or ClusterParams()
        self.seen = 0  # mentions counted by the model, ever (copies not): their sequence numbers
        self.next_id = 0
        self.latest_at: datetime | None = None
        self._clusters: dict[int, Cluster] = {}
        self._postings: dict[str, dict[int, int]] = {}  # token -> live cluster -> count
        self._assigned: dict[int, int] = {}  # counted mention -> cluster
        self._tf: dict[int, dict[str, int]] = {}  # counted mention -> its token counts
        self._copies: dict[int, list[int]] = {}  # counted mention -> its copies (if it has any)
        self._copy_of: dict[int, int] = {}  # copy -> counted mention
        self._groups: dict[str, int] = {}  # syndication key -> counted mention
        self._group_of: dict[int, str] = {}  # counted mention -> its key
        self._pending: deque[Pending] = deque()
        self._timed: list[tuple[datetime, int]] = []  # heap: (at, mention), every live timed one
        self._untimed: deque[tuple[int, int]] = deque()  # (seq, mention), every live untimed one
        self._once = [shared_gain(n, 1, self.params.beta) for n in range(ONCE_TABLE)]

    # --- public ------------------------------------------------------------------------------

    def add(
        self,
        mention_id: int,
        title: str,
        url: str | None = None,
        summary: str | None = None,
        *,
        at: datetime | None = None,
        group: str | None = None,
    ) -> int:
        """Cluster one mention and return its cluster's id.

        ``group``: the mention's syndication key; a later mention with a key already seen joins
        that mention's cluster (now and after any move) without counting again. ``at``: the
        mention's time (aware); it drives expiry, else the count fallback does. A mention
        already older than the window when added is placed and expires at once: the id of the
        cluster it joined is returned, and ``cluster_of`` raises KeyError for it.
        """
        if mention_id in self._assigned or mention_id in self._copy_of:
            raise ValueError(f"mention {mention_id} is already clustered")
        if at is not None and (self.latest_at is None or at > self.latest_at):
            self.latest_at = at
        if group is not None:
            head = self._groups.get(group)
            if head is not None:
                self._copy_of[mention_id] = head
                self._copies.setdefault(head, []).append(mention_id)
                cluster = self._assigned[head]
                self._clusters[cluster].touch(at)
                self._schedule(mention_id, at)
                self._age()
                return cluster
        self.seen += 1
        tf = dict(Counter(map(intern, tokens(title, url, summary))))
        self._tf[mention_id] = tf
        cluster = self._place(mention_id, tf, self._best(tf), at)
        if group is not None:
            self._groups[group] = mention_id
            self._group_of[mention_id] = group
        self._schedule(mention_id, at)
        size = self._clusters[cluster].size
        if self.params.merge_threshold is not None and merge_due(size):
            cluster = self._try_merge(cluster)
        if self.params.recheck_after:
            self._pending.append(Pending(self.seen, mention_id, at))
            self._recheck(self.seen - self.params.recheck_after)
        self._age()
        return self._assigned.get(mention_id, cluster)

    def cluster_of(self, mention_id: int) -> int:
        """The live cluster holding ``mention_id`` (after moves and merges); KeyError if the
        mention was never added or has expired (older than the window, or dropped by
        ``expire``)."""
        return self._assigned[self._copy_of.get(mention_id, mention_id)]

    def flush(self) -> None:
        """Give every mention still waiting for its second look that look now (end of a batch)."""
        self._recheck(None)

    def expire(self, before: datetime) -> tuple[int, ...]:
        """Drop every mention whose time is before ``before``; the ids of the clusters that
        emptied (and are gone), in order. Untimed mentions are left to the count fallback."""
        dropped = []
        timed = self._timed
        while timed and timed[0][0] < before:
            cid = self._leave(heapq.heappop(timed)[1])
            if cid is not None:
                dropped.append(cid)
        return tuple(dropped)

    def clusters(self, min_size: int = 1, top: int = 5) -> list[ClusterSummary]:
        """The live clusters of at least ``min_size`` counted mentions, largest first."""
        out = []
        for cid, c in self._clusters.items():
            if c.size < min_size:
                continue
            mentions = sorted(m for head in c.members for m in (head, *self._copies.get(head, ())))
            terms = heapq.nlargest(top, c.counts, key=c.counts.__getitem__)
            out.append(ClusterSummary(cid, c.size, tuple(mentions), tuple(terms), c.last_at))
        out.sort(key=lambda s: (-s.size, s.id))
        return out

    def __len__(self) -> int:
        """Live clusters."""
        return len(self._clusters)

    @property
    def postings(self) -> int:
        """Distinct tokens in the live clusters' index."""
        return len(self._postings)

    @property
    def tracked_mentions(self) -> int:
        """Live mentions (copies included)."""
        return len(self._assigned) + len(self._copy_of)

    # --- assignment --------------------------------------------------------------------------

    def _log_new(self) -> float:
        p = self.params
        if p.new_mass is not None:
            return log(p.new_mass)
        return log(p.alpha * (len(self._assigned) + 1))  # the live mentions, and this one

    def _vocab(self) -> int:
        """The Dirichlet prior's vocabulary: the live index's tokens, at most ``max_vocab``."""
        return max(min(len(self._postings), self.params.max_vocab), 1)

    def _best(self, tf: dict[str, int]) -> int | None:
        """The best live cluster for ``tf``, or None when a new cluster scores higher.

        Candidates are the clusters sharing a token held by at most ``max_postings`` clusters.
        A cluster's score differs from an empty cluster's only in the tokens they share, so it
        is summed from the postings' counts (``_cluster_model.shared_gain``), not token by token.
        """
        p = self.params
        beta, postings = p.beta, self._postings
        vb = self._vocab() * beta
        length = sum(tf.values())
        gain: defaultdict[int, float] = defaultdict(float)
        common: list[tuple[str, int, dict[int, int]]] = []
        once = self._once
        for token, x in tf.items():
            held = postings.get(token)
            if held is None:
                continue
            if len(held) > p.max_postings:
                common.append((token, x, held))
                continue
            if x == 1:  # most tokens, and mostly small counts: shared_gain from a table
                for cid, n in held.items():
                    gain[cid] += once[n] if n < ONCE_TABLE else shared_gain(n, 1, beta)
            else:
                for cid, n in held.items():
                    gain[cid] += shared_gain(n, x, beta)
        for _, x, held in common:  # a common token counts for the candidates it is in
            for cid in gain:
                k = held.get(cid)
                if k is not None:
                    gain[cid] += shared_gain(k, x, beta)
        best: int | None = None
        best_score = self._log_new() - (lgamma(vb + length) - lgamma(vb))
        clusters = self._clusters
        for cid, g in gain.items():
            c = clusters[cid]
            total = c.length + vb
            score = log(c.size) + g - (lgamma(total + length) - lgamma(total))
            if score > best_score or (score == best_score and best is not None and cid < best):
                best, best_score = cid, score
        return best

    def _place(
        self, mention_id: int, tf: dict[str, int], cid: int | None, at: datetime | None
    ) -> int:
        if cid is None:
            cid = self.next_id
            self.next_id += 1
        c = self._clusters.get(cid)
        if c is None:  # new, or the emptied cluster of a mention placed again on its own
            c = self._clusters[cid] = Cluster()
        c.size += 1
        c.length += sum(tf.values())
        counts = c.counts
        postings = self._postings
        for token, x in tf.items():
            if token in counts:
                counts[token] += x
                postings[token][cid] += x
            else:
                counts[token] = x
                held = postings.get(token)
                if held is None:
                    postings[token] = {cid: x}
                else:
                    held[cid] = x
        c.members.add(mention_id)
        c.touch(at)
        self._assigned[mention_id] = cid
        return cid

    def _take_out(self, mention_id: int, tf: dict[str, int]) -> int:
        """Remove a counted mention's tokens from its cluster (dropped if it empties)."""
        cid = self._assigned.pop(mention_id)
        c = self._clusters[cid]
        c.size -= 1
        c.length -= sum(tf.values())
        c.members.discard(mention_id)
        counts = c.counts
        for token, x in tf.items():
            left = counts[token] - x
            if left > 0:
                counts[token] = left
                self._postings[token][cid] = left
            else:
                del counts[token]
                self._unpost(token, cid)
        if c.size == 0:
            del self._clusters[cid]
        return cid

    def _recheck(self, upto: int | None) -> None:
        while self._pending and (upto is None or self._pending[0].seq <= upto):
            p = self._pending.popleft()
            if p.mention_id not in self._assigned:  # expired (or handed its group on)
                continue
            tf = self._tf[p.mention_id]
            was = self._take_out(p.mention_id, tf)
            cid = self._best(tf)
            if cid is None:
                cid = was  # a second look never opens a new cluster: it stays (or is alone again)
            self._place(p.mention_id, tf, cid, p.at)

    # --- merges ------------------------------------------------------------------------------

    def _try_merge(self, cid: int) -> int:
        """Merge ``cid`` with its best partner if the evidence is strong; the surviving id."""
        c = self._clusters[cid]
        limit, threshold = self.params.max_postings, self.params.merge_threshold
        assert threshold is not None
        top = heapq.nlargest(MERGE_TOP_TERMS, c.counts, key=c.counts.__getitem__)
        weight: defaultdict[int, int] = defaultdict(int)  # partner -> its count of those tokens
        for token in top:
            held = self._postings.get(token)
            if held is not None and len(held) <= limit:
                for other, n in held.items():
                    weight[other] += n
        weight.pop(cid, None)
        if not weight:
            return cid
        partners = heapq.nsmallest(MERGE_PARTNERS, weight, key=lambda o: (-weight[o], o))
        beta, vocab, log_new = self.params.beta, self._vocab(), self._log_new()
        marginals = {id(c): log_marginal(c, beta, vocab)}
        best, best_gain = None, threshold
        for other in sorted(partners):
            gain = log_merge_gain(c, self._clusters[other], beta, vocab, log_new, marginals)
            if gain > best_gain:
                best, best_gain = other, gain
        if best is None:
            return cid
        keep, gone = (best, cid) if self._clusters[best].size >= c.size else (cid, best)
        self._absorb(keep, gone)
        return keep

    def _absorb(self, keep: int, gone: int) -> None:
        k, g = self._clusters[keep], self._clusters.pop(gone)
        for token, x in g.counts.items():
            held = self._postings[token]
            if token in k.counts:
                k.counts[token] += x
                held[keep] += x
            else:
                k.counts[token] = x
                held[keep] = x
            self._unpost(token, gone)
        k.size += g.size
        k.length += g.length
        k.members |= g.members
        for m in g.members:
            self._assigned[m] = keep
        k.touch(g.last_at)

    def _unpost(self, token: str, cid: int) -> None:
        held = self._postings[token]
        del held[cid]
        if not held:
            del self._postings[token]

    # --- expiry ------------------------------------------------------------------------------

    def _schedule(self, mention_id: int, at: datetime | None) -> None:
        if at is not None:
            heapq.heappush(self._timed, (at, mention_id))
        else:
            self._untimed.append((self.seen, mention_id))

    def _age(self) -> None:
        """Expire the mentions older than the window (by time, or by count when untimed)."""
        timed = self._timed
        if timed and self.latest_at is not None:
            cutoff = self.latest_at - self.params.window
            while timed and timed[0][0] < cutoff:
                self._leave(heapq.heappop(timed)[1])
        untimed, last = self._untimed, self.seen - self.params.window_mentions
        while untimed and untimed[0][0] <= last:
            self._leave(untimed.popleft()[1])

    def _leave(self, mention_id: int) -> int | None:
        """One mention expires. A copy just goes; a counted mention with copies hands its place
        (tokens, group) to its oldest copy; else its tokens leave its cluster. The id of the
        cluster if that emptied it, else None."""
        head = self._copy_of.pop(mention_id, None)
        if head is not None:
            siblings = self._copies[head]
            siblings.remove(mention_id)
            if not siblings:
                del self._copies[head]
            return None
        tf = self._tf.pop(mention_id)
        key = self._group_of.pop(mention_id, None)
        copies = self._copies.pop(mention_id, [])
        if copies:
            new = copies.pop(0)
            del self._copy_of[new]
            if copies:
                self._copies[new] = copies
                for copy in copies:
                    self._copy_of[copy] = new
            cid = self._assigned.pop(mention_id)
            self._assigned[new] = cid
            self._tf[new] = tf
            members = self._clusters[cid].members
            members.discard(mention_id)
            members.add(new)
            if key is not None:
                self._groups[key] = new
                self._group_of[new] = key
            return None
        if key is not None:
            del self._groups[key]
        cid = self._take_out(mention_id, tf)
        return None if cid in self._clusters else cid

    # --- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-able values (``from_state`` reads it back)."""
        return dump_state(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OnlineClusterer:
        """A clusterer that continues exactly where ``state()`` was taken."""
        clusterer = cls(ClusterParams(**params_from_state(state)))
        load_state(clusterer, state)
        return clusterer


def cluster_all(
    mentions: Iterable[tuple[int, str, str | None]], params: ClusterParams | None = None
) -> dict[int, int]:
    """Cluster (id, title, url) mentions in the given order and flush: id -> cluster id."""
    clusterer = OnlineClusterer(params)
    ids = []
    for mention_id, title, url in mentions:
        clusterer.add(mention_id, title, url)
        ids.append(mention_id)
    clusterer.flush()
    return {m: clusterer.cluster_of(m) for m in ids}
