"""A story's query as the terms another service can search for.

Services that search for us (news search feeds, Reddit, Hacker News, Mastodon hashtags) get
the query's positive terms only: ``NOT`` clauses and the ``title:`` field are dropped, since
those engines read them differently or not at all, and our own matcher checks every result.

- :func:`search_text`: the query without NOT clauses and fields, for engines that read
  AND/OR and quotes (news search feeds, Reddit).
- :func:`alternatives`: the query as a disjunction of term lists, for engines without OR
  (Hacker News's Algolia).
- :func:`positive_terms`: the words and quoted phrases, in order (Mastodon hashtags).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')
_OPERATORS = frozenset({"AND", "OR", "NOT"})


def tokens(query: str) -> list[str]:
    """Quoted phrases, parentheses and bare chunks, in order."""
    return _TOKEN.findall(query)


def search_text(query: str) -> str:
    """The query without NOT clauses and fields.

    ``(strike OR walkout) "port of X" NOT title:opinion`` -> ``(strike OR walkout) "port of X"``
    """
    tokens = _TOKEN.findall(query)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "NOT":
            i = _skip_operand(tokens, i + 1)
            if out and out[-1] in ("AND", "OR"):
                out.pop()
            continue
        if token.lower().startswith("title:"):
            token = token[len("title:") :]
            if not token:
                i += 1
                continue
        out.append(token)
        i += 1
    text = " ".join(out).replace("( ", "(").replace(" )", ")")
    return re.sub(r"\(\s*\)", "", text).strip() or query


def _skip_operand(tokens: list[str], i: int) -> int:
    """The index after the term or parenthesised group starting at ``i``."""
    while i < len(tokens) and (tokens[i] == "NOT" or tokens[i].lower() == "title:"):
        i += 1
    if i < len(tokens) and tokens[i] == "(":
        depth = 0
        while i < len(tokens):
            depth += {"(": 1, ")": -1}.get(tokens[i], 0)
            i += 1
            if depth == 0:
                break
        return i
    return i + 1


def positive_terms(query: str) -> list[str]:
    """The words and quoted phrases a match may rest on, in order and without repeats:
    operators, parentheses, ``NOT`` clauses and the ``title:`` field are dropped."""
    terms: list[str] = []
    for token in tokens(search_text(query)):
        if token in _OPERATORS or token in ("(", ")"):
            continue
        if token not in terms:
            terms.append(token)
    return terms


def alternatives(search: str, *, limit: int) -> list[str]:
    """The query's alternatives, each a string of terms that must all match.

    ``(ukraine OR kyiv) "peace talks"`` -> ``['ukraine "peace talks"', 'kyiv "peace talks"']``.
    ``AND`` joins, ``OR`` separates, parentheses group; a ``NOT`` and its operand are dropped
    (Algolia's ``-word`` would exclude a phrase our query allows elsewhere), and a trailing ``*``
    is dropped (Algolia matches the last word as a prefix anyway). Stops after ``limit``.
    """
    parser = _Alternatives(_balanced(_TOKEN.findall(search)), limit)
    found: list[str] = []
    for terms in parser.expression():
        text = " ".join(terms)
        if text and text not in found:
            found.append(text)
    return found[:limit]


def _balanced(tokens: list[str]) -> list[str]:
    """The tokens without a ``)`` that closes nothing."""
    out: list[str] = []
    depth = 0
    for token in tokens:
        if token == ")":
            if depth == 0:
                continue
            depth -= 1
        elif token == "(":
            depth += 1
        out.append(token)
    return out


class _Alternatives:
    """Recursive descent over query tokens into a disjunction of conjunctions (lists of terms)."""

    def __init__(self, tokens: list[str], limit: int) -> None:
        self.tokens = tokens
        self.limit = limit
        self.i = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def expression(self) -> list[tuple[str, ...]]:
        out = self.conjunction()
        while self._peek() == "OR":
            self.i += 1
            out = (out + self.conjunction())[: self.limit + 1]
        return out

    def conjunction(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [()]
        while (token := self._peek()) not in (None, "OR", ")"):
            if token == "AND":
                self.i += 1
                continue
            part = self.primary()
            if part is not None:
                out = [a + b for a in out for b in part][: self.limit + 1]
        return out

    def primary(self) -> list[tuple[str, ...]] | None:
        """One operand; None for one that adds nothing (a NOT clause, a bare ``*``)."""
        token = self.tokens[self.i]
        self.i += 1
        if token == "NOT":
            if self._peek() is not None and self._peek() not in ("OR", ")"):
                self.primary()
            return None
        if token == "(":
            inner = self.expression()
            if self._peek() == ")":
                self.i += 1
            return inner
        term = token.rstrip("*")
        if term.lower().startswith("title:"):
            term = term[len("title:") :]
        if not term or term == '""':
            return None
        return [(term,)]
