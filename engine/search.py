"""A story's query as plain search terms, for sources that search for us (news search feeds,
Reddit, Hacker News): ``NOT`` clauses and the ``title:`` field are dropped, since those
engines read them differently or not at all. Our own matcher still checks every result."""

from __future__ import annotations

import re

_TOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')


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
