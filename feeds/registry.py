"""Source kinds by name: ``register`` a collector class, ``collector_for(kind)`` to use one."""

from __future__ import annotations

import importlib
from typing import TypeVar

from noisecast.feeds.base import Collector

BUILTIN_MODULES = (
    "noisecast.feeds.rss",
    "noisecast.feeds.reddit",
    "noisecast.feeds.hackernews",
    "noisecast.feeds.mastodon",
)

_REGISTRY: dict[str, type[Collector]] = {}
_loaded = False

C = TypeVar("C", bound=type[Collector])


def register(*kinds: str):  # type: ignore[no-untyped-def]
    """Class decorator: make a collector available under one or more kind names."""

    def decorate(cls: C) -> C:
        for kind in kinds or (cls.kind,):
            if kind in _REGISTRY and _REGISTRY[kind] is not cls:
                raise ValueError(f"source kind {kind!r} is registered twice")
            _REGISTRY[kind] = cls
        return cls

    return decorate


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:  # a missing dependency is a real error; a missing module
                    raise  # is a kind not written yet
        _loaded = True


def kinds() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def collector_class(kind: str) -> type[Collector]:
    _load()
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise KeyError(f"unknown source kind {kind!r}; known: {', '.join(kinds())}") from None


def collector_for(kind: str) -> Collector:
    return collector_class(kind)()
