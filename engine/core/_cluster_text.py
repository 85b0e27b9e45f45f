"""The words a headline is clustered on (internal to ``engine.core.cluster``).

A mention's tokens are its title's content words (folded, English stop words of scikit-learn
dropped, a light plural stemming), the title's adjacent word pairs, then the words and pairs of
its URL's slug that the title lacks (an article slug often names what the headline only hints
at), then a few summary words the title lacks.
"""

from __future__ import annotations

import re
from itertools import pairwise

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from noisecast.engine.core._text import fold

STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)
SUMMARY_WORDS = 8  # at most this many summary words the title and slug lack
SLUG_MIN_WORDS = 3  # a path segment with fewer alphabetic parts is an id, not a slug

_WORD = re.compile(r"[^\W_]+(?:\.\d+)?")
_POSSESSIVE = re.compile(r"['\u2019]s\b")
_APOSTROPHE = re.compile(r"['\u2019]")
_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|cms|story)$")
_SLUG_SPLIT = re.compile(r"[-_+.,]")


def stem(word: str) -> str:
    """`"stories"` -> `"story"`, `"markets"` -> `"market"`; `"glass"` and `"virus"` are kept."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Content words of ``text``: folded, possessives and apostrophes dropped, stop words out."""
    text = _APOSTROPHE.sub("", _POSSESSIVE.sub(" ", fold(text)))
    return [stem(w) for w in _WORD.findall(text) if w not in STOP_WORDS]


def slug_words(url: str) -> list[str]:
    """Words of the URL path segments that read as an article slug (3+ alphabetic parts)."""
    path = _HOST.sub("", url.lower()).split("?")[0].replace("\\", "")
    out: list[str] = []
    for segment in path.split("/"):
        parts = [p for p in _SLUG_SPLIT.split(_EXTENSION.sub("", segment)) if p.isalpha()]
        if len(parts) >= SLUG_MIN_WORDS:
            out += [stem(p) for p in parts if p not in STOP_WORDS and len(p) > 1]
    return out


def tokens(title: str, url: str | None = None, summary: str | None = None) -> tuple[str, ...]:
    """The clustering tokens of one mention, repeated words kept (they are counts).

    >>> tokens("Apple's new iPhones sell out", "https://x.example/tech/apple-iphone-6-sales-record")
    ('apple', 'new', 'iphone', 'sell', 'apple new', 'new iphone', 'iphone sell', 'sale', 'record', \
'apple iphone', 'iphone sale', 'sale record')
    """
    title_words = words(title)
    out = title_words + [f"{a} {b}" for a, b in pairwise(title_words)]
    seen = set(out)
    if url:
        extra = slug_words(url)
        fresh = [w for w in extra if w not in seen]
        seen.update(fresh)
        pairs = [p for p in (f"{a} {b}" for a, b in pairwise(extra)) if p not in seen]
        seen.update(pairs)
        out += fresh + pairs
    if summary:
        fresh = [w for w in dict.fromkeys(words(summary)) if w not in seen]
        out += fresh[:SUMMARY_WORDS]
    return tuple(out)
