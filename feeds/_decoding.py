"""Content-Encoding decoded in bounded steps, so that a compression bomb stops at the body cap.

httpx decodes each network chunk whole: ``Content-Encoding: gzip, gzip`` on 6.7 KB became
gigabytes in memory before any cap could be checked. Here every layer (``gzip``, ``x-gzip``,
``deflate``; outermost first) hands on at most :data:`BLOCK` bytes at a time
(``decompressobj.decompress(data, max_length)``), and the layers are chained as generators:
at any moment at most one block per layer is held, and the caller counts what comes out and
stops at its cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

BLOCK = 64 * 1024
MAX_LAYERS = 4
SUPPORTED = frozenset({"gzip", "x-gzip", "deflate"})


class DecodingError(ValueError):
    """The body is not what its Content-Encoding says, or uses one we do not read."""


def codings(header: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` header in the order they were applied, without
    ``identity``. Raises DecodingError for an unsupported coding or too many layers."""
    names = [c.strip().lower() for c in (header or "").split(",")]
    names = [c for c in names if c and c != "identity"]
    unknown = [c for c in names if c not in SUPPORTED]
    if unknown:
        raise DecodingError(f"unsupported Content-Encoding {', '.join(unknown)!r}")
    if len(names) > MAX_LAYERS:
        raise DecodingError(f"{len(names)} Content-Encoding layers (at most {MAX_LAYERS} read)")
    return names


class _Layer:
    """One coding, decoded in pieces of at most BLOCK bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.raw_deflate = False  # "deflate" is meant to be zlib-wrapped; some servers send raw
        self.started = False
        self._d = self._new()

    def _new(self) -> zlib._Decompress:
        if self.coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self.raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._d.decompress(data, BLOCK)
            except zlib.error as e:
                if self.coding == "deflate" and not self.started and not self.raw_deflate:
                    self.raw_deflate = True
                    self._d = self._new()
                    continue
                raise DecodingError(f"{self.coding} body cannot be decoded: {e}") from None
            self.started = True
            if out:
                yield out
            if self._d.eof:
                rest = self._d.unused_data
                if not rest or self.coding == "deflate":
                    return  # trailing bytes after a deflate stream are ignored, as by httpx
                self._d = self._new()  # the next member of a multi-member gzip body
                data = rest
                continue
            data = self._d.unconsumed_tail
            if not data and len(out) < BLOCK:
                return  # all input consumed and nothing held back


def decoder(names: Sequence[str]) -> _Chain:
    """A decoder for a body encoded with ``names`` (as :func:`codings` returns them)."""
    return _Chain([_Layer(name) for name in reversed(names)])


class _Chain:
    def __init__(self, layers: list[_Layer]) -> None:
        self._layers = layers

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw chunk, each at most BLOCK bytes (or the chunk
        itself when nothing is encoded). Raises DecodingError."""
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[index].decode(data):
            yield from self._through(index + 1, piece)
