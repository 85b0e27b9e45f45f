"""The Dirichlet-multinomial arithmetic of the online clusterer (internal to `engine.core.cluster`).

A cluster is a multinomial over tokens with a symmetric Dirichlet(beta) prior over a vocabulary
of ``vocab`` tokens (the tokens of the live clusters). A mention's tokens are scored against a
cluster by their predictive probability given the cluster's counts (collapsed Gibbs sampling's
formula for the Dirichlet multinomial mixture, as in GSDMM/MStream).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from math import lgamma, log


class Cluster:
    """One live cluster's counts and bookkeeping.

    ``size``: mentions counted in the model (a syndicated group once); ``length``: their tokens;
    ``counts``: token -> count (insertion ordered, which keeps ties and sums reproducible);
    ``last_at``: the newest time it was updated with (``None``: untimed);
    ``members``: the counted mentions (their syndicated copies hang off them).
    """

    __slots__ = ("counts", "last_at", "length", "members", "size")

    def __init__(self) -> None:
        self.size = 0
        self.length = 0
        self.counts: dict[str, int] = {}
        self.last_at: datetime | None = None
        self.members: set[int] = set()

    def touch(self, at: datetime | None) -> None:
        if at is not None and (self.last_at is None or at > self.last_at):
            self.last_at = at


@dataclass(frozen=True, slots=True)
class Pending:
    """A counted mention waiting for its second look: its sequence number and time (its
    tokens are the clusterer's ``_tf[mention_id]``)."""

    seq: int
    mention_id: int
    at: datetime | None


def log_predictive(
    tf: Mapping[str, int], length: int, cluster: Cluster | None, beta: float, vocab: int
) -> float:
    """log p(tokens | cluster's counts); ``cluster=None`` scores an empty (new) cluster."""
    vb = vocab * beta
    if cluster is None:
        total = 0.0
        for c in tf.values():
            total += lgamma(beta + c) - lgamma(beta)
        return total - (lgamma(vb + length) - lgamma(vb))
    counts = cluster.counts
    total = 0.0
    for token, c in tf.items():
        n = counts.get(token, 0) + beta
        total += lgamma(n + c) - lgamma(n)
    return total - (lgamma(cluster.length + vb + length) - lgamma(cluster.length + vb))


def shared_gain(n: int, x: int, beta: float) -> float:
    """What a token the mention holds ``x`` times adds to its ``log_predictive`` in a cluster
    holding it ``n`` times, beyond what it adds in an empty cluster."""
    if x == 1:
        return log((n + beta) / beta)
    return lgamma(n + beta + x) - lgamma(n + beta) - lgamma(beta + x) + lgamma(beta)


def log_marginal(cluster: Cluster, beta: float, vocab: int) -> float:
    """log p(all of the cluster's tokens) under the Dirichlet-multinomial."""
    vb = vocab * beta
    total = 0.0
    for x in cluster.counts.values():
        total += lgamma(x + beta) - lgamma(beta)
    return total - (lgamma(cluster.length + vb) - lgamma(vb))


def log_merge_gain(
    a: Cluster, b: Cluster, beta: float, vocab: int, log_new: float, marginals: dict[int, float]
) -> float:
    """log Bayes factor of one cluster holding ``a`` and ``b`` against two.

    Likelihood: log p(a u b) - log p(a) - log p(b), computed from the cluster with fewer distinct
    tokens; prior: the Chinese-restaurant partition ratio Gamma(m_a + m_b) / (Gamma(m_a)
    Gamma(m_b) * new-cluster mass). ``marginals`` caches log p(cluster) by ``id()``.
    """
    small, big = (a, b) if len(a.counts) <= len(b.counts) else (b, a)
    vb = vocab * beta
    delta = 0.0
    big_counts = big.counts
    for token, x in small.counts.items():
        y = big_counts.get(token, 0) + beta
        delta += lgamma(x + y) - lgamma(y)
    delta -= lgamma(small.length + big.length + vb) - lgamma(big.length + vb)
    key = id(small)
    if key not in marginals:
        marginals[key] = log_marginal(small, beta, vocab)
    delta -= marginals[key]
    prior = lgamma(a.size + b.size) - lgamma(a.size) - lgamma(b.size) - log_new
    return delta + prior


def merge_due(size: int, every: int = 4, linear_until: int = 32) -> bool:
    """Whether a cluster that just reached ``size`` looks for a merge: 4, 8, ..., 32, 64, 128..."""
    if size <= linear_until:
        return size % every == 0
    return size & (size - 1) == 0
