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
- A word with punctuation inside (``covid-19``, ``U.S.``, ``10:30``) is split like text and
  matches as a phrase; a term with no letters or digits at all (``-``, ``""``) is ignored.

`parse_query` compiles a query or raises `QueryError` with a 0-based ``position``.
`StoryMatcher` matches one mention against all stories, tokenizing the mention once.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain

from engine.errors import QueryError

__all__ = ["Query", "StoryMatcher", "fold", "parse_query", "tokenize"]

_WORD = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits
_BARE = re.compile(r'[^\s()"]+')  # an unquoted chunk of a query
_FIELD = re.compile(r"([^\W\d]\w*):")  # "title:" at the start of a chunk; "10:30" is no field
_FIELDS = frozenset({"title"})
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_UNARY_START = frozenset({"TERM", "(", "FIELD", "NOT"})
_PRIMARY_START = frozenset({"TERM", "(", "FIELD"})
_MAX_DEPTH = 32  # nested parentheses; far beyond any real query, well within the stack


def fold(text: str) -> str:
    """Casefold ``text`` and strip its accents: ``"Zürich Straße"`` becomes ``"zurich strasse"``.

    Unicode compatibility caseless matching (casefold and NFKD, twice), then every combining
    mark is dropped.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.casefold())
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))


def tokenize(text: str) -> list[str]:
    """Split ``text`` into folded word tokens: runs of letters and digits, split on the rest."""
    return _WORD.findall(fold(text))


# --- mentions, tokenized once -------------------------------------------------------------------


class _View:
    """The word tokens of part of a mention: its title, or its title and summary."""

    __slots__ = ("_sorted", "segments", "words")

    def __init__(self, *segments: list[str]) -> None:
        self.segments = segments
        self.words = set(chain.from_iterable(segments))
        self._sorted: list[str] | None = None

    def has_prefix(self, stem: str) -> bool:
        """Whether some word starts with ``stem``."""
        if self._sorted is None:
            self._sorted = sorted(self.words)
        i = bisect_left(self._sorted, stem)
        return i < len(self._sorted) and self._sorted[i].startswith(stem)

    def contains(self, words: tuple[str, ...], prefix: bool) -> bool:
        """Whether ``words`` occur consecutively in one segment (the last one as a prefix)."""
        *head, last = words
        if not all(word in self.words for word in head):
            return False
        if not (self.has_prefix(last) if prefix else last in self.words):
            return False
        if not head:
            return True
        n = len(head)
        for tokens in self.segments:
            for i in range(len(tokens) - n):
                if tokens[i : i + n] == head and (
                    tokens[i + n].startswith(last) if prefix else tokens[i + n] == last
                ):
                    return True
        return False


class _Doc:
    """A mention's title and summary, tokenized once and shared by every query evaluated on it."""

    __slots__ = ("full", "title")

    def __init__(self, title: str, summary: str) -> None:
        title_tokens = tokenize(title)
        self.title = _View(title_tokens)
        self.full = _View(title_tokens, tokenize(summary))


# --- the compiled expression --------------------------------------------------------------------


class _Node:
    """A compiled query expression. ``title_only`` is set below a ``title:``."""

    __slots__ = ()

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        """Whether the mention matches."""
        raise NotImplementedError

    def anchors(self) -> frozenset[str] | None:
        """Words of which any match must contain at least one, or None if there are none."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Term(_Node):
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool  # the last word is a prefix

    @property
    def label(self) -> str:
        return " ".join(self.words) + ("*" if self.prefix else "")

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return (doc.title if title_only else doc.full).contains(self.words, self.prefix)

    def anchors(self) -> frozenset[str] | None:
        exact = self.words[:-1] if self.prefix else self.words
        if exact:  # the longest whole word of a phrase is likely the rarest
            return frozenset({max(exact, key=len)})
        return frozenset({self.words[0] + "*"})


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    child: _Node

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return not self.child.evaluate(doc, title_only)

    def anchors(self) -> frozenset[str] | None:
        return None


@dataclass(frozen=True, slots=True)
class _Title(_Node):
    child: _Node

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return self.child.evaluate(doc, True)

    def anchors(self) -> frozenset[str] | None:
        return self.child.anchors()


@dataclass(frozen=True, slots=True)
class _And(_Node):
    children: tuple[_Node, ...]

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return all(child.evaluate(doc, title_only) for child in self.children)

    def anchors(self) -> frozenset[str] | None:
        known = [a for a in (child.anchors() for child in self.children) if a is not None]
        # Any one child's anchors will do: take the fewest, then the longest (likely rarest) words.
        return min(known, key=lambda a: (len(a), -min(map(len, a))), default=None)


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    children: tuple[_Node, ...]

    def evaluate(self, doc: _Doc, title_only: bool) -> bool:
        return any(child.evaluate(doc, title_only) for child in self.children)

    def anchors(self) -> frozenset[str] | None:
        anchors: set[str] = set()
        for child in self.children:
            child_anchors = child.anchors()
            if child_anchors is None:
                return None
            anchors |= child_anchors
        return frozenset(anchors)


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
        case _And(children) | _Or(children):
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
    return [_Token("TERM", pos, text, _Term(words, prefix))] if words else []


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

    @property
    def anchors(self) -> frozenset[str] | None:
        """Folded words of which every matching mention contains at least one.

        A prefix stem is given with its ``*`` (``"climat*"``). None when the query can match a
        mention without any of its words (``NOT opinion``), so no prefilter may skip it.
        """
        return self._tree.anchors()

    def matches(self, title: str, summary: str = "") -> bool:
        """Whether a mention with this title and summary belongs to the story."""
        return self._evaluate(_Doc(title, summary))

    def matched_terms(self, title: str, summary: str = "") -> list[str]:
        """The positive terms found in the mention, sorted: ``["climat*", "peace talks"]``."""
        return self._found(_Doc(title, summary))

    def _evaluate(self, doc: _Doc) -> bool:
        return self._tree.evaluate(doc, False)

    def _found(self, doc: _Doc) -> list[str]:
        return sorted(
            {
                term.label
                for term, positive, title_only in _leaves(self._tree)
                if positive and term.evaluate(doc, title_only)
            }
        )


def parse_query(source: str) -> Query:
    """Compile a story query, or raise `QueryError` saying where it goes wrong."""
    tree = _Parser(source).parse()
    terms = frozenset(
        word for term, positive, _ in _leaves(tree) if positive for word in term.words
    )
    return Query(source, terms, tree)


class StoryMatcher:
    """Matches each mention against every story's query, tokenizing the mention once.

    Only stories with an anchor word in the mention (see `Query.anchors`) are evaluated, found
    through an index from anchor words to stories; stories without anchors are always evaluated.
    """

    def __init__(self, stories: Mapping[str, str | Query]) -> None:
        self.queries: dict[str, Query] = {}
        for slug, query in stories.items():
            try:
                self.queries[slug] = parse_query(query) if isinstance(query, str) else query
            except QueryError as e:
                raise QueryError(f"story '{slug}': {e}", e.position) from e
        self._rank = {slug: rank for rank, slug in enumerate(self.queries)}
        self._unanchored: list[str] = []
        self._by_word: dict[str, list[str]] = {}
        self._by_prefix: dict[str, list[str]] = {}
        for slug, query in self.queries.items():
            anchors = query.anchors
            if anchors is None:
                self._unanchored.append(slug)
            for anchor in anchors or ():
                if anchor.endswith("*"):
                    self._by_prefix.setdefault(anchor[:-1], []).append(slug)
                else:
                    self._by_word.setdefault(anchor, []).append(slug)

    def match(self, title: str, summary: str = "") -> dict[str, list[str]]:
        """The matching stories, in the order given, each with its matched terms."""
        doc = _Doc(title, summary)
        matched: dict[str, list[str]] = {}
        for slug in sorted(self._candidates(doc), key=self._rank.__getitem__):
            query = self.queries[slug]
            if query._evaluate(doc):
                matched[slug] = query._found(doc)
        return matched

    def _candidates(self, doc: _Doc) -> set[str]:
        """Every story that might match: a superset of the matching ones."""
        candidates = set(self._unanchored)
        for word in self._by_word.keys() & doc.full.words:
            candidates.update(self._by_word[word])
        for stem, slugs in self._by_prefix.items():
            if doc.full.has_prefix(stem):
                candidates.update(slugs)
        return candidates
