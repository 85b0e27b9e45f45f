"""Network I/O: the polite HTTP fetcher, one module per source kind, and the Mention record."""

from noisecast.feeds.mention import Mention

__all__ = ["Mention"]
