"""Folding and tokenizing text for matching, and a mention tokenized once (internal)."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_NON_WORD = re.compile(r"[\W_]")  # neither a letter nor a digit
# A bytes.translate table for UTF-8: ASCII letters to lower case, digits kept, other ASCII
# characters to spaces, and the bytes of all other characters kept.
_WORD_BYTES = bytes(ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)) + bytes(
    range(128, 256)
)
_ASCII_BYTES = bytes(range(128))
_UNCHANGED: set[str] = set()  # characters beyond ASCII seen to be words when folded: "ж", "東"
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")

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


class Doc:
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
