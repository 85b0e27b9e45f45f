"""Story queries: a small boolean keyword language, and matching mentions against every story.

Editors write one query per story, for example::

    (ukraine OR kyiv) "peace talks" NOT title:opinion
    climat* title:(summit OR cop29)

- Words and ``"quoted phrases"`` match whole word tokens, ignoring case and accents: ``zurich``
  matches "Zürich", ``ai`` matches "AI," but not "said". A phrase matches consecutive tokens.
- ``AND``, ``OR`` and ``NOT`` are operators only in upper case. Written bare in lower case
  they would be search words, which is almost never what was meant (``COP30 or summit``), so
  `check_query` (config, ``stories add``) refuses them with their position: write ``"or"`` in
  quotes to search for the word. It also refuses a query that matches without any of its
  words (``NOT football``).
  Adjacent terms are ANDed. Precedence is NOT > AND > OR; parentheses group.
- A trailing ``*`` makes a bare word a prefix: ``climat*`` matches "climate" and "climatic".
- ``title:`` makes the next term or parenthesised group match the title only; otherwise a term
  matches the title or the summary (a phrase never runs from one into the other).
- A word with punctuation inside (``covid-19``, ``U.S.``, ``AT&T``) is split like text and
  matches as a phrase; a term with no letters or digits at all (``-``, ``""``) is ignored.

Text is split at every character that is not a letter or a digit, apostrophes included:
"Europe's" is ``europe s``, so ``europe`` matches it, and ``mcdonald's`` (the phrase
``mcdonald s``) matches "McDonald's" and "McDonald’s" but not "McDonalds". Folding drops every
combining mark, so words of any script are whole tokens; in scripts that write vowels as marks
(Devanagari) this folds some words alike (``काम`` and ``कम`` both become ``कम``). Mentions are
plain text, but an HTML character reference that slipped through (``AT&amp;T``, ``&#8217;``) is
decoded before matching; it needs its ``;``, and a bare ``&`` is text.

`parse_query` compiles a query or raises `QueryError` with a 0-based ``position``.
`StoryMatcher` matches one mention against all stories: it tokenizes the mention once, looks up
the stories that have an anchor word in it (see `Query.anchors`) and evaluates only those.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter

from noisecast.engine.errors import QueryError

__all__ = ["Query", "StoryMatcher", "check_query", "fold", "parse_query", "tokenize"]

from noisecast.engine.core._query import Node, Parser, Prefix, Term, Word, check_style, query_leaves
from noisecast.engine.core._text import Doc, fold, tokenize

_STEM_HEAD = 4  # a StoryMatcher indexes prefix stems by their first letters


# --- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A compiled story query; make one with `parse_query`.

    ``terms`` holds the folded words of the positive terms (those not under an odd number of
    NOTs), phrase words one by one and prefix stems without their ``*``.
    """

    source: str
    terms: frozenset[str]
    _tree: Node = field(repr=False)
    # Derived from the tree once: the words every match holds; the prefix stems; and the
    # positive terms, as the single words outside title: (found as a set at once) and the rest.
    _required: frozenset[str] = field(init=False, repr=False, compare=False)
    _stems: frozenset[str] = field(init=False, repr=False, compare=False)
    _words: frozenset[str] = field(init=False, repr=False, compare=False)
    _others: tuple[tuple[Term, bool, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        leaves = list(query_leaves(self._tree))
        words = {t.words[0] for t, pos, title in leaves if pos and not title and type(t) is Word}
        # A title:word found implies the word found: that label is in the set already.
        others = {(t, title, t.label): None for t, pos, title in leaves if pos}
        others = {other: None for other in others if other[2] not in words}
        stems = frozenset(t.words[0] for t, _, _ in leaves if isinstance(t, Prefix))
        object.__setattr__(self, "_required", self._tree.required())
        object.__setattr__(self, "_stems", stems)
        object.__setattr__(self, "_words", frozenset(words))
        object.__setattr__(self, "_others", tuple(others))

    @property
    def anchors(self) -> frozenset[str] | None:
        """Folded words of which every matching mention contains at least one.

        A prefix stem is given with its ``*`` (``"climat*"``). None when the query can match a
        mention without any of its words (``NOT opinion``), so no prefilter may skip it.
        """
        return self._tree.anchors()

    def matches(self, title: str, summary: str = "") -> bool:
        """Whether a mention with this title and summary belongs to the story."""
        return self._evaluate(Doc(title, summary, self._find_stems))

    def matched_terms(self, title: str, summary: str = "") -> list[str]:
        """The positive terms found in the mention, sorted: ``["climat*", "peace talks"]``."""
        return self._found(Doc(title, summary, self._find_stems))

    def _evaluate(self, doc: Doc) -> bool:
        return self._required <= doc.words and self._tree.evaluate(doc, False)

    def _found(self, doc: Doc) -> list[str]:
        found = self._words & doc.words
        if not self._others:
            return sorted(found)
        labels = set(found)
        for term, title_only, label in self._others:
            if term.evaluate(doc, title_only):
                labels.add(label)
        return sorted(labels)

    def _find_stems(self, words: set[str]) -> set[str]:
        return {stem for stem in self._stems if any(word.startswith(stem) for word in words)}


def parse_query(source: str) -> Query:
    """Compile a story query, or raise `QueryError` saying where it goes wrong."""
    tree = Parser(source).parse()
    terms = frozenset(
        word for term, positive, _ in query_leaves(tree) if positive for word in term.words
    )
    return Query(source, terms, tree)


def check_query(source: str) -> Query:
    """Compile a query given by an editor (config, ``stories add``), refusing what parses but
    is almost surely a slip: a lowercase ``or``/``and``/``not`` written bare, and a query
    that matches without any of its words (``NOT football``). Stored queries are compiled
    with the lenient `parse_query`, so an older query never stops collection."""
    query = parse_query(source)
    check_style(source, query._tree)
    return query


class StoryMatcher:
    """Matches each mention against every story's query, tokenizing the mention once.

    Only stories with an anchor in the mention (see `Query.anchors`) are evaluated, and those
    without anchors. An index from words to stories finds them. Prefix anchors (``climat*``)
    are learnt word by word: the first time the matcher sees a word, it looks up which of the
    queries' prefix stems the word starts with (stems are grouped by their first letters) and
    adds the word to the index with them. A word seen before costs one lookup, however many
    prefixes the queries have. One matcher may serve several threads.
    """

    _max_plain = 200_000  # words without prefixes to remember, before starting over

    def __init__(self, stories: Mapping[str, str | Query]) -> None:
        self.queries: dict[str, Query] = {}
        for slug, query in stories.items():
            try:
                self.queries[slug] = parse_query(query) if isinstance(query, str) else query
            except QueryError as e:
                raise QueryError(f"story '{slug}': {e}", e.position) from e
        self._list = list(self.queries.values())  # stories are known by their position here
        # What match() does with each candidate, bound once: test, evaluate, list the terms.
        self._plans = [
            (q._required, q._tree.evaluate, q._found, slug) for slug, q in self.queries.items()
        ]
        self._unanchored: list[int] = []
        self._by_word: dict[str, list[int]] = {}  # anchor word -> stories, by position
        self._by_stem: dict[str, list[int]] = {}  # anchor stem -> stories
        for i, query in enumerate(self._list):
            anchors = query.anchors
            if anchors is None:
                self._unanchored.append(i)
            for anchor in anchors or ():
                if anchor.endswith("*"):
                    self._by_stem.setdefault(anchor[:-1], []).append(i)
                else:
                    self._by_word.setdefault(anchor, []).append(i)
        # The stems of every prefix term, by their first letters, by how many letters that is.
        heads: dict[int, dict[str, list[str]]] = {}
        for stem in sorted(set().union(*(query._stems for query in self._list))):
            cut = min(len(stem), _STEM_HEAD)
            heads.setdefault(cut, {}).setdefault(stem[:cut], []).append(stem)
        self._heads = sorted(heads.items())
        self._learning = threading.Lock()  # matching from several threads is safe
        self._index = self._new_index()

    def match(self, title: str, summary: str = "") -> dict[str, list[str]]:
        """The matching stories, in the order given, each with its matched terms."""
        doc = Doc(title, summary, self._find_stems)
        words, plans = doc.words, self._plans
        matched: dict[str, list[str]] = {}
        for i in self._candidates(doc):
            required, evaluate, found, slug = plans[i]
            if required <= words and evaluate(doc, False):  # Query._evaluate
                matched[slug] = found(doc)
        return matched

    def _candidates(self, doc: Doc) -> list[int]:
        """Every story that might match, by position: a superset of the matching ones.

        Notes on ``doc`` the stems its words start with, for the prefix terms of the queries.
        """
        found = set(self._unanchored)
        stems: set[str] = set()
        for stories, word_stems in self._lookup(doc.words):
            if stories:
                found.update(stories)
            if word_stems:
                stems.update(word_stems)
        doc.stems_found(stems)
        return sorted(found)

    def _find_stems(self, words: set[str]) -> set[str]:
        """The stems of the queries that some of ``words`` start with."""
        stems: set[str] = set()
        for _, word_stems in self._lookup(words):
            stems.update(word_stems)
        return stems

    def _lookup(self, words: set[str]) -> list[tuple[list[int], list[str]]]:
        """The entries of ``words`` in the index: (stories anchored, stems it starts with)."""
        index = self._index  # read once: starting over replaces it whole
        if not self._heads:
            return list(map(index.entries.__getitem__, words & index.words))
        if len(index.plain) > self._max_plain:  # bound the memory: start over
            self._index = index = self._new_index()
        maybe = words - index.plain  # the words in the index, and those never seen
        hits = maybe & index.words
        if len(hits) < len(maybe):
            with self._learning:  # less what another thread may have learnt meanwhile
                self._learn(index, maybe - index.words - index.plain)
            hits = maybe & index.words
        return list(map(index.entries.__getitem__, hits))

    def _learn(self, index: _Index, words: set[str]) -> None:
        """Enter the words that start with a prefix stem in the index, and the others as plain."""
        new = list(words)
        for n, heads in self._heads:
            # Slicing, and testing the cut, in C: only the words with a known head loop here.
            cuts = list(map(itemgetter(slice(n)), new))
            known = heads.keys() & cuts
            for word in compress(new, map(known.__contains__, cuts)) if known else ():
                if stems := [stem for stem in heads[word[:n]] if word.startswith(stem)]:
                    stories, old = index.entries.get(word, ([], []))
                    more = [i for stem in stems for i in self._by_stem.get(stem, ())]
                    index.entries[word] = (stories + more, old + stems)
                    index.words.add(word)  # after the entry: a word in words has one
        index.plain |= words - index.words

    def _new_index(self) -> _Index:
        """The index of the exact anchor words, as before any other word was seen."""
        index = _Index({word: (stories, []) for word, stories in self._by_word.items()})
        if self._heads:
            self._learn(index, set(index.words))
        return index


class _Index:
    """Words to the stories they anchor and the prefix stems they start with. ``words`` are its
    keys, as a set (set & set is the fastest lookup); ``plain`` are the words seen that are in
    no entry. Learning only adds to an index; starting over makes a new one."""

    __slots__ = ("entries", "plain", "words")

    def __init__(self, entries: dict[str, tuple[list[int], list[str]]]) -> None:
        self.entries = entries
        self.words = set(entries)
        self.plain: set[str] = set()
