"""Helpers for testing one collector's tasks and harvests without the store."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from noisecast.engine.jobs.collect import politeness
from noisecast.feeds.base import Cursor, Harvest, HarvestContext, SourceInfo, StoryInfo, Task
from noisecast.feeds.http import PoliteFetcher
from noisecast.feeds.registry import collector_class
from noisecast.feeds.searchterms import search_text
from tests.conftest import T0, fast_collector


def source_info(kind: str, url: str, name: str = "s", **options: Any) -> SourceInfo:
    """A source of ``kind`` with its options validated by the kind's own model."""
    model = collector_class(kind).Options
    return SourceInfo(id=1, kind=kind, name=name, url=url, options=model(**options))


def story_info(slug: str, query: str) -> StoryInfo:
    return StoryInfo(slug=slug, title=slug, query=query, search=search_text(query))


def run_harvest(task: Task, src: SourceInfo, now: datetime = T0) -> Harvest:
    """One task through the real polite fetcher, as collect runs it."""

    async def run() -> Harvest:
        async with PoliteFetcher(politeness(fast_collector())) as fetcher:
            ctx = HarvestContext(fetcher, src, Cursor(), now)
            return await collector_class(src.kind)().harvest(task, ctx)

    return asyncio.run(run())
