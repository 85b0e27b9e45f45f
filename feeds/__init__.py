"""Network I/O: the polite HTTP fetcher, one module per source kind, and the Mention record."""

from feeds.mention import Mention

__all__ = ["Mention"]
