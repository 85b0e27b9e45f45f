"""Suggesting a story query for a cluster of mentions (internal to ``engine.core.emerging``).

**Terms.** A candidate term is a word or a phrase of two or three words, taken from the
mentions exactly as the matcher reads them (``engine.core._text.Doc``: folded tokens of the
title and of the summary; a phrase never runs from one into the other). A word must not be an
English stop word (scikit-learn's list) nor a single letter; a phrase must not start or end
with one (``"bank of england"`` is a phrase, ``"of the"`` is not). So a term is in a mention's
term set exactly when the query made of it alone matches the mention.

**Distinctive terms.** scikit-learn's ``CountVectorizer`` (binary, with that analyzer) counts
in how many cluster mentions and background mentions each term occurs. The candidates are the
union of the best by three rankings: alone as a query (F1 on cluster vs background), coverage of
the cluster (anchors to AND), and smoothed log-odds of cluster against background (rare
alternatives to OR).

**The query.** An AND of clauses, each an OR of terms, grown greedily: each step either ANDs a
term as a new clause or ORs it into a clause, whichever raises F1 (cluster mentions matched vs
background mentions matched) the most; it stops when nothing raises F1 by ``MIN_GAIN`` or at
``max_terms`` terms. The result is compiled with ``engine.core.match.check_query`` and its
quality measured with the real matcher.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from noisecast.engine.core._text import Doc
from noisecast.engine.core.match import Query, check_query

__all__ = [
    "Corpus",
    "QueryQuality",
    "QuerySuggestion",
    "count_matches",
    "doc_terms",
    "quality_of",
    "suggest_for",
    "suggest_query",
    "term_text",
]

STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | {"and", "or", "not"}
_POSSESSIVE = re.compile(r"(?<=\w) s\b")
MAX_PHRASE = 3  # words in a phrase term
POOL = 80  # candidates kept per ranking
MIN_GAIN = 0.005  # F1 a step must add
TIE = 0.01  # F1 within which a longer phrase is preferred
MIN_SUPPORT = 0.03  # a term must bring in this share of the cluster (and 2 mentions at least)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class QueryQuality:
    """How a query does on a cluster's mentions (``cluster_matches`` of them) against the
    background's (``recent_matches``): precision = cluster matches / all matches (0 when it
    matches nothing), recall = cluster matches / cluster mentions."""

    precision: float
    recall: float
    recent_matches: int
    cluster_matches: int


@dataclass(frozen=True)
class QuerySuggestion:
    """A query in noisecast's language (``check_query`` accepts it), its quality, and the
    terms it was built from, best first."""

    query: str
    quality: QueryQuality
    terms: tuple[str, ...]


def _no_stems(words: set[str]) -> set[str]:
    return set()


def _ngrams(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(tokens):
        if word in STOP_WORDS:
            continue
        if len(word) > 1 and not word.isdigit():
            out.append(word)
        for n in range(2, MAX_PHRASE + 1):
            if i + n > len(tokens):
                break
            last = tokens[i + n - 1]
            if last not in STOP_WORDS:
                out.append(" ".join(tokens[i : i + n]))
    return out


def doc_terms(title: str, summary: str | None = "") -> list[str]:
    """The candidate terms of one mention (see the module docstring), each once.

    >>> doc_terms("Mt. Gox CEO Mark Karpeles speaks")
    ['mt', 'mt gox', 'mt gox ceo', 'gox', 'gox ceo', 'gox ceo mark', 'ceo', 'ceo mark', \
'ceo mark karpeles', 'mark', 'mark karpeles', 'mark karpeles speaks', 'karpeles', \
'karpeles speaks', 'speaks']
    """
    return list(Corpus.of([(title, summary)]).terms[0])


def term_text(term: str) -> str:
    """A term as written in a query: a word bare, a phrase in quotes, a lone ``s`` after a
    word written as the possessive it was (``"mcdonald s"`` is ``"mcdonald's"``: the same
    tokens)."""
    if " " not in term:
        return term
    return '"' + _POSSESSIVE.sub("'s", term) + '"'


def query_text(clauses: Sequence[Sequence[str]]) -> str:
    """An AND of OR-clauses as query text: ``(a OR "b c") d``."""
    parts = []
    for clause in clauses:
        alternatives = " OR ".join(term_text(t) for t in clause)
        parts.append(f"({alternatives})" if len(clause) > 1 and len(clauses) > 1 else alternatives)
    return " ".join(parts)


@dataclass(frozen=True)
class Corpus(Sequence[tuple[str, str]]):
    """Mentions as (title, summary), each with its candidate terms and its set of words,
    computed once: a background shared by many clusters is tokenized once. A sequence of its
    (title, summary) pairs, so it may be passed wherever background docs are: the functions
    taking docs use it as it is instead of tokenizing them again."""

    docs: tuple[tuple[str, str], ...]
    terms: tuple[tuple[str, ...], ...]
    words: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, docs: Sequence[tuple[str, str | None]]) -> Corpus:
        """The corpus of ``docs`` (``docs`` itself when it is one)."""
        if isinstance(docs, Corpus):
            return docs
        pairs = tuple((t, s or "") for t, s in docs)
        parsed = [Doc(t, s, _no_stems) for t, s in pairs]
        return cls(
            pairs,
            tuple(tuple(dict.fromkeys(_ngrams(d.title) + _ngrams(d.summary))) for d in parsed),
            tuple(frozenset(d.words) for d in parsed),
        )

    def without(self, remove: Sequence[tuple[str, str]]) -> Corpus:
        """This corpus less one copy of each of ``remove`` (by title and summary)."""
        left = Counter(remove)
        keep = []
        for i, doc in enumerate(self.docs):
            if left[doc] > 0:
                left[doc] -= 1
            else:
                keep.append(i)
        if len(keep) == len(self.docs):
            return self
        return Corpus(
            tuple(self.docs[i] for i in keep),
            tuple(self.terms[i] for i in keep),
            tuple(self.words[i] for i in keep),
        )

    def __len__(self) -> int:
        return len(self.docs)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[str, str], ...]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, str] | tuple[tuple[str, str], ...]:
        return self.docs[index]


def count_matches(query: Query, corpus: Corpus) -> int:
    """How many of the corpus's mentions the real matcher says ``query`` matches. Only the
    mentions holding one of the query's anchor words are evaluated, as in StoryMatcher."""
    anchors = query.anchors
    prefilter = anchors is not None and not any(a.endswith("*") for a in anchors)
    return sum(
        query.matches(*doc)
        for doc, words in zip(corpus.docs, corpus.words, strict=True)
        if not prefilter or not words.isdisjoint(anchors or ())
    )


def quality_of(query: str, cluster: Corpus, background: Corpus) -> QueryQuality:
    """Measure ``query`` with the real matcher (``check_query``'s compiled query)."""
    compiled = check_query(query)
    hits = count_matches(compiled, cluster)
    others = count_matches(compiled, background)
    return QueryQuality(
        precision=hits / (hits + others) if hits + others else 0.0,
        recall=hits / len(cluster) if len(cluster) else 0.0,
        recent_matches=others,
        cluster_matches=hits,
    )


def term_matrix(
    cluster: Corpus, background: Corpus
) -> tuple[list[str], sparse.csc_matrix, sparse.csc_matrix]:
    """The cluster's terms (vocabulary fitted on the cluster), and binary (doc x term) matrices
    for the cluster and the background."""
    vectorizer = CountVectorizer(analyzer=_identity, binary=True, dtype=np.int64)
    in_cluster = vectorizer.fit_transform(cluster.terms).tocsc()
    vocabulary = list(vectorizer.get_feature_names_out())
    if len(background):
        in_background = vectorizer.transform(background.terms).tocsc()
    else:
        in_background = sparse.csc_matrix((0, len(vocabulary)), dtype=np.int64)
    return vocabulary, in_cluster, in_background


def _identity(terms: tuple[str, ...]) -> tuple[str, ...]:
    return terms


def _candidates(cdf: IntArray, bdf: IntArray, n_cluster: int, n_background: int) -> IntArray:
    """Term indices worth trying: the best by F1 alone, by coverage and by log-odds."""
    f1 = 2 * cdf / (n_cluster + cdf + bdf)
    odds = np.log((cdf + 0.5) / (n_cluster - cdf + 0.5)) - np.log(
        (bdf + 0.5) / (n_background - bdf + 0.5)
    )
    order = np.arange(len(cdf))
    picks: set[int] = set()
    for key in (f1, cdf.astype(float), odds):
        # best first; ties by term index (the vocabulary is sorted): deterministic
        ranked = np.lexsort((order, -key))
        picks.update(int(i) for i in ranked[:POOL] if cdf[i] > 0)
    return np.array(sorted(picks), dtype=np.int64)


def _f1(
    tp: npt.NDArray[np.float64], fp: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.float64]:
    return np.where(tp > 0, 2 * tp / (n + tp + fp), 0.0)


def greedy_clauses(
    cluster: BoolArray, background: BoolArray, max_terms: int, words: Sequence[int]
) -> list[list[int]]:
    """Grow an AND of OR-clauses over the columns of two boolean (doc x term) matrices to
    maximise F1 (see the module docstring); returns clauses of column indices."""
    n = cluster.shape[0]
    support = min(n, max(2, int(np.ceil(MIN_SUPPORT * n))))
    lengths = np.asarray(words, dtype=np.float64)
    clauses = _greedy(cluster, background, max_terms, support, lengths)
    if not clauses:  # no term is common enough: the best rare one, at any gain
        clauses = _greedy(cluster, background, max_terms, 1, lengths, first_gain=-1.0)
    return clauses


def _greedy(
    cluster: BoolArray,
    background: BoolArray,
    max_terms: int,
    support: int,
    words: npt.NDArray[np.float64],
    first_gain: float = 0.0,
) -> list[list[int]]:
    n = cluster.shape[0]
    cl = cluster.astype(np.float64)
    bg = background.astype(np.float64)
    clauses: list[list[int]] = []
    sat_c: list[BoolArray] = []  # per clause: which docs it matches
    sat_b: list[BoolArray] = []
    best = first_gain - MIN_GAIN
    used: set[int] = set()
    while sum(map(len, clauses)) < max_terms:
        all_c = np.logical_and.reduce(sat_c) if sat_c else np.ones(n, dtype=bool)
        all_b = np.logical_and.reduce(sat_b) if sat_b else np.ones(background.shape[0], dtype=bool)
        # AND a new clause of one term
        tp = all_c.astype(np.float64) @ cl
        fp = all_b.astype(np.float64) @ bg
        gains = np.where(tp >= support, _f1(tp, fp, n), -1.0)
        moves = [(gains, -1)]
        # OR a term into clause i: adds the docs that satisfy the other clauses but not i
        for i in range(len(clauses)):
            others_c = np.logical_and.reduce(
                [s for j, s in enumerate(sat_c) if j != i] or [np.ones(n, dtype=bool)]
            )
            others_b = np.logical_and.reduce(
                [s for j, s in enumerate(sat_b) if j != i]
                or [np.ones(background.shape[0], dtype=bool)]
            )
            open_c = (others_c & ~sat_c[i]).astype(np.float64)
            open_b = (others_b & ~sat_b[i]).astype(np.float64)
            new_c = open_c @ cl
            tp_i = all_c.sum() + new_c
            fp_i = all_b.sum() + open_b @ bg
            moves.append((np.where(new_c >= support, _f1(tp_i, fp_i, n), -1.0), i))
        grid = np.stack([scores for scores, _ in moves])  # (move, term)
        if used:
            grid[:, list(used)] = -1.0
        top = float(grid.max())
        # Within TIE of the best, the term of most words (a phrase says more than its word
        # and keeps its precision on mentions not seen yet); then the best F1, first found.
        near = grid >= max(top - TIE, min(top, best + MIN_GAIN))
        rank = np.where(near, words[None, :] * 10.0 + grid, -np.inf)
        move, column = (int(i) for i in np.unravel_index(int(np.argmax(rank)), rank.shape))
        score, clause, term = float(grid[move, column]), moves[move][1], column
        if score < best + MIN_GAIN or score < 0:
            break
        best = score
        used.add(term)
        if clause < 0:
            clauses.append([term])
            sat_c.append(cluster[:, term].copy())
            sat_b.append(background[:, term].copy())
        else:
            clauses[clause].append(term)
            sat_c[clause] |= cluster[:, term]
            sat_b[clause] |= background[:, term]
    return clauses


def suggest_query(
    cluster_docs: Sequence[tuple[str, str]],
    background_docs: Sequence[tuple[str, str]],
    *,
    max_terms: int = 4,
) -> QuerySuggestion:
    """A query for the cluster's mentions that leaves out the background's; the module
    docstring gives the rules. Docs are (title, summary); ValueError when the cluster has no
    usable term (no letters or digits outside stop words)."""
    return suggest_for(Corpus.of(cluster_docs), Corpus.of(background_docs), max_terms=max_terms)


def suggest_for(cluster: Corpus, background: Corpus, *, max_terms: int = 4) -> QuerySuggestion:
    """:func:`suggest_query` on corpora tokenized already."""
    if max_terms < 1:
        raise ValueError(f"max_terms: expected at least 1, got {max_terms}")
    if not len(cluster):
        raise ValueError("suggest_query: the cluster has no mentions")
    try:
        vocabulary, in_cluster, in_background = term_matrix(cluster, background)
    except ValueError as e:  # an empty vocabulary
        raise ValueError(
            "suggest_query: the cluster's headlines have no term a query could use "
            f"(only stop words or punctuation): {cluster.docs[0][0]!r}"
        ) from e
    cdf = np.asarray(in_cluster.sum(axis=0)).ravel()
    bdf = np.asarray(in_background.sum(axis=0)).ravel()
    picks = _candidates(cdf, bdf, len(cluster), len(background))
    in_c = in_cluster[:, picks].toarray().astype(bool)
    in_b = in_background[:, picks].toarray().astype(bool)
    lengths = [vocabulary[i].count(" ") + 1 for i in picks]
    clauses = greedy_clauses(in_c, in_b, max_terms, lengths)
    named = [[vocabulary[picks[i]] for i in clause] for clause in clauses]
    order = [vocabulary[picks[i]] for clause in clauses for i in clause]
    query = query_text(named)
    return QuerySuggestion(
        query=query,
        quality=quality_of(query, cluster, background),
        terms=tuple(term_text(t) for t in order),
    )
