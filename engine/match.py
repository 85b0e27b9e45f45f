"""Story queries: a small boolean keyword language, and matching mentions against every story.

Editors write one query per story, for example::

    (ukraine OR kyiv) "peace talks" NOT title:opinion
    climat* title:(summit OR cop29)

- Words and ``"quoted phrases"`` match whole word tokens, ignoring case and accents: ``zurich``
  matches "Zürich", ``ai`` matches "AI," but not "said". A phrase matches consecutive tokens.
- ``AND``, ``OR`` and ``NOT`` are operators only in upper case (``and`` is an ordinary word).
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

import html
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from operator import itemgetter

from engine.errors import QueryError

__all__ = ["Query", "StoryMatcher", "fold", "parse_query", "tokenize"]

_NON_WORD = re.compile(r"[\W_]")  # neither a letter nor a digit
# A bytes.translate table for UTF-8: ASCII letters to lower case, digits kept, other ASCII
# characters to spaces, and the bytes of all other characters kept.
_WORD_BYTES = bytes(ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)) + bytes(
    range(128, 256)
)
_ASCII_BYTES = bytes(range(128))
_UNCHANGED: set[str] = set()  # characters beyond ASCII seen to be words when folded: "ж", "東"
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_BARE = re.compile(r'[^\s()"]+')  # an unquoted chunk of a query
_FIELD = re.compile(r"([^\W\d]\w*):")  # "title:" at the start of a chunk; "10:30" is no field
_FIELDS = frozenset({"title"})
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_UNARY_START = frozenset({"TERM", "(", "FIELD", "NOT"})
_PRIMARY_START = frozenset({"TERM", "(", "FIELD"})
_MAX_DEPTH = 32  # nested parentheses; far beyond any real query, well within the stack
_STEM_HEAD = 4  # a StoryMatcher indexes prefix stems by their first letters


# --- folding and tokens -------------------------------------------------------------------------


def fold(text: str) -> str:
    """Casefold ``text`` and strip its accents: ``"Zürich Straße"`` becomes ``"zurich strasse"``.

    Unicode compatibility caseless matching (casefold and NFKD, twice), then every combining
    mark is dropped.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text.casefold()).casefold())
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))


def tokenize(text: str) -> list[str]:
    r"""Split ``text`` into folded word tokens: runs of letters and digits, split on the rest.

    The same as ``re.findall(r"[^\W_]+", fold(text))``, only faster. `fold` works character
    by character (canonical reordering moves only marks, and they are dropped), so each distinct
    character beyond ASCII is replaced by its folding, with spaces for what is no letter or
    digit; then one pass over the UTF-8 bytes lowers ASCII letters and spaces ASCII punctuation.
    """
    if not text.isascii():
        others = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
        for ch in set(others.decode("utf-8", "surrogatepass")) - _UNCHANGED:  # each distinct one
            folded = _fold_char(ch)
            if folded == ch:
                _UNCHANGED.add(ch)
            else:
                text = text.replace(ch, folded)
    return text.encode().translate(_WORD_BYTES).decode().split()


@lru_cache(maxsize=1 << 14)
def _fold_char(ch: str) -> str:
    """One character folded, with a space for each character that is no letter or digit:
    ``"É"`` becomes ``"e"``, ``"’"`` a space, a combining accent nothing, and ``"ж"`` stays."""
    return _NON_WORD.sub(" ", fold(ch))


def _unescape(text: str) -> str:
    """Decode the HTML character references in ``text`` that end with ``;``."""
    return _ENTITY.sub(_decode, text)


def _decode(entity: re.Match[str]) -> str:
    return html.unescape(entity.group())


# --- mentions, tokenized once -------------------------------------------------------------------


class _Doc:
    """A mention's title and summary, tokenized once and shared by every query evaluated on it.

    ``sets[title_only]`` is the set of words of the title and summary, or of the title only.
    ``find_stems(words)`` gives the prefix stems (of the queries to be evaluated) that some of
    ``words`` start with; it is called once per set at most, when a prefix is first looked up.
    """

    __slots__ = ("_find_stems", "_stems", "sets", "summary", "title", "words")

    def __init__(self, title: str, summary: str, find_stems: Callable[[set[str]], set[str]]):
        self.title = tokenize(_unescape(title) if "&" in title else title)
        self.summary = tokenize(_unescape(summary) if "&" in summary else summary)
        title_words = set(self.title)
        self.words = title_words.union(self.summary)
        self.sets = (self.words, title_words)
        self._find_stems = find_stems
        self._stems: list[set[str] | None] = [None, None]

    def stems_found(self, stems: set[str]) -> None:
        """Note the prefix stems that the words of title and summary start with."""
        self._stems[False] = stems

    def stems(self, title_only: bool) -> set[str]:
        """The prefix stems that some word starts with."""
        stems = self._stems[title_only]
        if stems is None:
            stems = self._stems[title_only] = self._find_stems(self.sets[title_only])
        return stems

    def has_phrase(self, words: tuple[str, ...], prefix: bool, title_only: bool) -> bool:
        """Whether ``words`` (two or more) occur consecutively in the title or the summary,
        the last one as a prefix if ``prefix``."""
        first, middle, last = words[0], list(words[1:-1]), words[-1]
        n = len(words) - 1
        for tokens in (self.title,) if title_only else (self.title, self.summary):
            i = -1
            try:
                while True:  # each place of the first word with room for the rest after it
                    i = tokens.index(first, i + 1, len(tokens) - n)
                    if tokens[i + 1 : i + n] == middle and (
                        tokens[i + n].startswith(last) if prefix else tokens[i + n] == last
                    ):
                        return True
            except ValueError:  # no more places
                pass
        return False


# --- the compiled expression --------------------------------------------------------------------


class _Node:
    """A compiled query expression. ``title_only`` is set below a ``title:``."""

    __slots__ = ()

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        """Whether the mention matches."""
        raise NotImplementedError

    def anchors(self) -> frozenset[str] | None:
        """Words of which any match must contain at least one, or None if there are none."""
        return None

    def required(self) -> frozenset[str]:
        """Words that every match contains (in its title or summary)."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class _Term(_Node):
    """A word, a prefix or a phrase: `_term` makes the right subclass."""

    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool  # the last word is a prefix

    @property
    def label(self) -> str:
        return " ".join(self.words) + ("*" if self.prefix else "")

    def exact(self) -> tuple[str, ...]:
        """The words that must be there whole."""
        return self.words[:-1] if self.prefix else self.words

    def anchors(self) -> frozenset[str]:
        if exact := self.exact():  # the longest whole word of a phrase is likely the rarest
            return frozenset({max(exact, key=len)})
        return frozenset({self.words[0] + "*"})

    def required(self) -> frozenset[str]:
        return frozenset(self.exact())


@dataclass(frozen=True, slots=True)
class _Word(_Term):
    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return self.words[0] in doc.sets[title_only]


@dataclass(frozen=True, slots=True)
class _Prefix(_Term):
    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return self.words[0] in doc.stems(title_only)


@dataclass(frozen=True, slots=True)
class _Phrase(_Term):
    whole: frozenset[str] = field(init=False, repr=False, compare=False)  # exact(), as a set

    def __post_init__(self) -> None:
        object.__setattr__(self, "whole", frozenset(self.exact()))

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return self.whole <= doc.sets[title_only] and doc.has_phrase(
            self.words, self.prefix, title_only
        )


def _term(words: tuple[str, ...], prefix: bool) -> _Term:
    if len(words) > 1:
        return _Phrase(words, prefix)
    return _Prefix(words, True) if prefix else _Word(words, False)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    child: _Node

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return not self.child.evaluate(doc, title_only)


@dataclass(frozen=True, slots=True)
class _Title(_Node):
    child: _Node

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return self.child.evaluate(doc, True)

    def anchors(self) -> frozenset[str] | None:
        return self.child.anchors()

    def required(self) -> frozenset[str]:
        return self.child.required()


@dataclass(frozen=True, slots=True)
class _Group(_Node):
    """AND or OR of two or more children. Its single words are tested at once, as a set."""

    children: tuple[_Node, ...]
    words: frozenset[str] = field(init=False, repr=False, compare=False)
    rest: tuple[_Node, ...] = field(init=False, repr=False, compare=False)  # the other children

    def __post_init__(self) -> None:
        words = frozenset(c.words[0] for c in self.children if type(c) is _Word)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "rest", tuple(c for c in self.children if type(c) is not _Word))


@dataclass(frozen=True, slots=True)
class _And(_Group):
    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        if not self.words <= doc.sets[title_only]:
            return False
        for child in self.rest:  # noqa: SIM110 (all() would make a generator, on a hot path)
            if not child.evaluate(doc, title_only):
                return False
        return True

    def anchors(self) -> frozenset[str] | None:
        known = [a for a in (child.anchors() for child in self.children) if a is not None]
        # Any one child's anchors will do: take the fewest, then the longest (likely rarest) words.
        return min(known, key=lambda a: (len(a), -min(map(len, a))), default=None)

    def required(self) -> frozenset[str]:
        return frozenset().union(*(child.required() for child in self.children))


@dataclass(frozen=True, slots=True)
class _Or(_Group):
    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        if not self.words.isdisjoint(doc.sets[title_only]):
            return True
        for child in self.rest:  # noqa: SIM110 (any() would make a generator, on a hot path)
            if child.evaluate(doc, title_only):
                return True
        return False

    def anchors(self) -> frozenset[str] | None:
        anchors: set[str] = set()
        for child in self.children:
            child_anchors = child.anchors()
            if child_anchors is None:
                return None
            anchors |= child_anchors
        return frozenset(anchors)

    def required(self) -> frozenset[str]:
        return frozenset.intersection(*(child.required() for child in self.children))


_Leaf = tuple[_Term, bool, bool]


def _leaves(node: _Node, positive: bool = True, title_only: bool = False) -> Iterator[_Leaf]:
    """Every term, with whether it is positive (under an even number of NOTs) and title-only."""
    match node:
        case _Term():
            yield node, positive, title_only
        case _Not(child):
            yield from _leaves(child, not positive, title_only)
        case _Title(child):
            yield from _leaves(child, positive, True)
        case _Group(children):
            for child in children:
                yield from _leaves(child, positive, title_only)


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "FIELD", "TERM" or "END"
    pos: int
    text: str = ""  # as written, for error messages
    term: _Term | None = None


def _lex(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, i, ch))
            i += 1
        elif ch == '"':
            end = source.find('"', i + 1)
            if end < 0:
                raise QueryError(f"query: unclosed quote at {i}", i)
            tokens.extend(_term_token(source[i + 1 : end], i, prefix=False))
            i = end + 1
        else:
            bare = _BARE.match(source, i)
            assert bare is not None  # ch starts a chunk
            chunk = bare.group()
            tokens.extend(_lex_bare(chunk, i))
            i += len(chunk)
    tokens.append(_Token("END", len(source)))
    return tokens


def _lex_bare(chunk: str, pos: int) -> Iterator[_Token]:
    """Fields, a keyword or a word, from an unquoted chunk starting at ``pos``."""
    while match := _FIELD.match(chunk):
        if match.group(1).casefold() not in _FIELDS:
            raise QueryError(f"query: unknown field '{match.group()}' at {pos}", pos)
        yield _Token("FIELD", pos, match.group())
        chunk, pos = chunk[match.end() :], pos + match.end()
    if chunk in _KEYWORDS:
        yield _Token(chunk, pos, chunk)
    else:
        yield from _term_token(chunk, pos, prefix=chunk.endswith("*"))


def _term_token(text: str, pos: int, prefix: bool) -> list[_Token]:
    """A term token, or none if ``text`` has no letters or digits (like punctuation in text)."""
    words = tuple(tokenize(text))
    return [_Token("TERM", pos, text, _term(words, prefix))] if words else []


class _Parser:
    """Recursive descent: or := and (OR and)*, and := unary ([AND] unary)*,
    unary := NOT* primary, primary := TERM | FIELD+ primary | '(' or ')'."""

    def __init__(self, source: str) -> None:
        self.tokens = _lex(source)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def expect_term_after(self, token: _Token, starts: frozenset[str]) -> None:
        if self.peek().kind not in starts:
            raise QueryError(
                f"query: expected a term after '{token.text}' at {token.pos}", token.pos
            )

    def parse(self) -> _Node:
        if self.peek().kind == "END":
            raise QueryError("query: empty query", 0)
        node = self.parse_or()
        if self.peek().kind != "END":  # only a ')' stops parse_or early
            raise _unexpected(self.peek())
        return node

    def parse_or(self) -> _Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.expect_term_after(self.take(), _UNARY_START)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def parse_and(self) -> _Node:
        children = [self.parse_unary()]
        while True:
            if self.peek().kind == "AND":
                self.expect_term_after(self.take(), _UNARY_START)
            elif self.peek().kind not in _UNARY_START:
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def parse_unary(self) -> _Node:
        negated = False
        while self.peek().kind == "NOT":  # a loop, not recursion: NOT NOT ... stays flat
            self.expect_term_after(self.take(), _UNARY_START)
            negated = not negated
        node = self.parse_primary()
        return _Not(node) if negated else node

    def parse_primary(self) -> _Node:
        token = self.take()
        if token.kind == "TERM":
            assert token.term is not None
            return token.term
        if token.kind == "FIELD":
            self.expect_term_after(token, _PRIMARY_START)
            while self.peek().kind == "FIELD":  # title:title:x is title:x
                self.expect_term_after(self.take(), _PRIMARY_START)
            return _Title(self.parse_primary())
        if token.kind == "(":
            if self.depth == _MAX_DEPTH:
                raise QueryError(f"query: too deeply nested '(' at {token.pos}", token.pos)
            if self.peek().kind != "END":
                self.depth += 1
                node = self.parse_or()
                self.depth -= 1
                if self.peek().kind == ")":
                    self.take()
                    return node
            raise QueryError(f"query: unclosed '(' at {token.pos}", token.pos)
        raise _unexpected(token)  # ")", "AND" or "OR" where a term should start


def _unexpected(token: _Token) -> QueryError:
    return QueryError(f"query: unexpected '{token.text}' at {token.pos}", token.pos)


# --- public API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A compiled story query; make one with `parse_query`.

    ``terms`` holds the folded words of the positive terms (those not under an odd number of
    NOTs), phrase words one by one and prefix stems without their ``*``.
    """

    source: str
    terms: frozenset[str]
    _tree: _Node = field(repr=False)
    # Derived from the tree once: the words every match holds; the prefix stems; and the
    # positive terms, as the single words outside title: (found as a set at once) and the rest.
    _required: frozenset[str] = field(init=False, repr=False, compare=False)
    _stems: frozenset[str] = field(init=False, repr=False, compare=False)
    _words: frozenset[str] = field(init=False, repr=False, compare=False)
    _others: tuple[tuple[_Term, bool, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        leaves = list(_leaves(self._tree))
        words = {t.words[0] for t, pos, title in leaves if pos and not title and type(t) is _Word}
        # A title:word found implies the word found: that label is in the set already.
        others = {(t, title, t.label): None for t, pos, title in leaves if pos}
        others = {other: None for other in others if other[2] not in words}
        stems = frozenset(t.words[0] for t, _, _ in leaves if isinstance(t, _Prefix))
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
        return self._evaluate(_Doc(title, summary, self._find_stems))

    def matched_terms(self, title: str, summary: str = "") -> list[str]:
        """The positive terms found in the mention, sorted: ``["climat*", "peace talks"]``."""
        return self._found(_Doc(title, summary, self._find_stems))

    def _evaluate(self, doc: _Doc) -> bool:
        return self._required <= doc.words and self._tree.evaluate(doc, False)

    def _found(self, doc: _Doc) -> list[str]:
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
    tree = _Parser(source).parse()
    terms = frozenset(
        word for term, positive, _ in _leaves(tree) if positive for word in term.words
    )
    return Query(source, terms, tree)


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
        doc = _Doc(title, summary, self._find_stems)
        words, plans = doc.words, self._plans
        matched: dict[str, list[str]] = {}
        for i in self._candidates(doc):
            required, evaluate, found, slug = plans[i]
            if required <= words and evaluate(doc, False):  # Query._evaluate
                matched[slug] = found(doc)
        return matched

    def _candidates(self, doc: _Doc) -> list[int]:
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
