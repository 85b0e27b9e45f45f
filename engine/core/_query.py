"""The query language: its compiled expression and its parser (internal; see
noisecast.engine.core.match)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from noisecast.engine.core._text import Doc, tokenize
from noisecast.engine.errors import QueryError

_BARE = re.compile(r'[^\s()"]+')  # an unquoted chunk of a query
_FIELD = re.compile(r"([^\W\d]\w*):")  # "title:" at the start of a chunk; "10:30" is no field
_FIELDS = frozenset({"title"})
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_UNARY_START = frozenset({"TERM", "(", "FIELD", "NOT"})
_PRIMARY_START = frozenset({"TERM", "(", "FIELD"})
_MAX_DEPTH = 32  # nested parentheses; far beyond any real query, well within the stack

# --- the compiled expression --------------------------------------------------------------------


class Node:
    """A compiled query expression. ``title_only`` is set below a ``title:``."""

    __slots__ = ()

    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        """Whether the mention matches."""
        raise NotImplementedError

    def anchors(self) -> frozenset[str] | None:
        """Words of which any match must contain at least one, or None if there are none."""
        return None

    def required(self) -> frozenset[str]:
        """Words that every match contains (in its title or summary)."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class Term(Node):
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
class Word(Term):
    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        return self.words[0] in doc.sets[title_only]


@dataclass(frozen=True, slots=True)
class Prefix(Term):
    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        return self.words[0] in doc.stems(title_only)


@dataclass(frozen=True, slots=True)
class _Phrase(Term):
    whole: frozenset[str] = field(init=False, repr=False, compare=False)  # exact(), as a set

    def __post_init__(self) -> None:
        object.__setattr__(self, "whole", frozenset(self.exact()))

    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        return self.whole <= doc.sets[title_only] and doc.has_phrase(
            self.words, self.prefix, title_only
        )


def _term(words: tuple[str, ...], prefix: bool) -> Term:
    if len(words) > 1:
        return _Phrase(words, prefix)
    return Prefix(words, True) if prefix else Word(words, False)


@dataclass(frozen=True, slots=True)
class _Not(Node):
    child: Node

    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        return not self.child.evaluate(doc, title_only)


@dataclass(frozen=True, slots=True)
class _Title(Node):
    child: Node

    def evaluate(self, doc: Doc, title_only: bool) -> bool:
        return self.child.evaluate(doc, True)

    def anchors(self) -> frozenset[str] | None:
        return self.child.anchors()

    def required(self) -> frozenset[str]:
        return self.child.required()


@dataclass(frozen=True, slots=True)
class _Group(Node):
    """AND or OR of two or more children. Its single words are tested at once, as a set."""

    children: tuple[Node, ...]
    words: frozenset[str] = field(init=False, repr=False, compare=False)
    rest: tuple[Node, ...] = field(init=False, repr=False, compare=False)  # the other children

    def __post_init__(self) -> None:
        words = frozenset(c.words[0] for c in self.children if type(c) is Word)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "rest", tuple(c for c in self.children if type(c) is not Word))


@dataclass(frozen=True, slots=True)
class _And(_Group):
    def evaluate(self, doc: Doc, title_only: bool) -> bool:
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
    def evaluate(self, doc: Doc, title_only: bool) -> bool:
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


_Leaf = tuple[Term, bool, bool]


def query_leaves(node: Node, positive: bool = True, title_only: bool = False) -> Iterator[_Leaf]:
    """Every term, with whether it is positive (under an even number of NOTs) and title-only."""
    match node:
        case Term():
            yield node, positive, title_only
        case _Not(child):
            yield from query_leaves(child, not positive, title_only)
        case _Title(child):
            yield from query_leaves(child, positive, True)
        case _Group(children):
            for child in children:
                yield from query_leaves(child, positive, title_only)


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "FIELD", "TERM" or "END"
    pos: int
    text: str = ""  # as written, for error messages
    term: Term | None = None


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


class Parser:
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

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise QueryError("query: empty query", 0)
        node = self.parse_or()
        if self.peek().kind != "END":  # only a ')' stops parse_or early
            raise _unexpected(self.peek())
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.expect_term_after(self.take(), _UNARY_START)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while True:
            if self.peek().kind == "AND":
                self.expect_term_after(self.take(), _UNARY_START)
            elif self.peek().kind not in _UNARY_START:
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def parse_unary(self) -> Node:
        negated = False
        while self.peek().kind == "NOT":  # a loop, not recursion: NOT NOT ... stays flat
            self.expect_term_after(self.take(), _UNARY_START)
            negated = not negated
        node = self.parse_primary()
        return _Not(node) if negated else node

    def parse_primary(self) -> Node:
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


# --- style: what parses but cannot be what the editor meant ------------------------------------


def check_style(source: str, tree: Node) -> None:
    """Refuse a lowercase ``or``/``and``/``not`` written bare (it is a search word, which is
    rarely what was meant: ``COP30 or summit`` needs both words), and a query that can match
    without any of its words (``NOT football`` matches almost everything). QueryError names
    the position; quoting the word (``"or"``) searches for it."""
    tokens = _lex(source)
    for token in tokens:
        if (
            token.kind == "TERM"
            and source[token.pos] != '"'
            and token.text.casefold() in _LOWER_KEYWORDS
            and token.text.upper() in _KEYWORDS
        ):
            word = token.text.upper()
            raise QueryError(
                f"query: '{token.text}' at {token.pos} is a search word here: did you mean "
                f'{word}? (operators are upper case; write "{token.text}" in quotes to search '
                "for the word)",
                token.pos,
            )
    if tree.anchors() is None:
        pos = next((t.pos for t in tokens if t.kind == "NOT"), 0)
        raise QueryError(
            f"query: only NOT at {pos}: a mention without any of the query's words matches, "
            "so it would match almost every mention; add a word a match must contain "
            "(e.g. 'cop30 NOT football')",
            pos,
        )


_LOWER_KEYWORDS = frozenset(k.casefold() for k in _KEYWORDS)


def _unexpected(token: _Token) -> QueryError:
    return QueryError(f"query: unexpected '{token.text}' at {token.pos}", token.pos)
