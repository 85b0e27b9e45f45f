"""The Emerging pages in a real browser: Playwright driving Debian's Chromium against
``noisecast --now ... serve`` on 127.0.0.1 over a seeded SQLite database (a dam failure
reported by five outlets that no story tracks, proposed with its suggested query, and a
proposal with hostile text). An editor opens Emerging from the nav, opens the proposal,
previews another query, tracks it, lands on the new story's review page with a score history,
and a reader sees its public story page. axe-core finds no serious or critical violation on
the Emerging pages; nothing hostile runs. Screenshots: var/screenshots/emerging*.png.

Skipped without Chromium (or Playwright, or axe-playwright-python) locally; required when CI
is set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from noisecast.engine.store import Store
from noisecast.engine.web.accounts import add_editor
from tests.test_web_emerging import CLOCK, HOSTILE, HOUR, headline, plant_mentions, proposal
from tests.web_helpers import (
    CHROMIUM,
    SCREENSHOTS,
    Watch,
    log_in_through,
    require_browser,
    serious,
    serve,
)

pytestmark = pytest.mark.slow

EDITOR, PASSWORD = "alice", "alice-password-123"
TITLE = "Thornbury dam failure floods valley villages"


def _seed(url: str) -> None:
    store = Store.from_url(url)
    try:
        store.migrate()
        t0 = CLOCK - timedelta(days=2)
        store.upsert_story("breach", "Northmere Bank data breach", "northmere", now=t0)
        plant_mentions(store)
        store.sync_proposals(
            HOUR,
            [
                proposal(7, TITLE, 71.0),
                proposal(
                    9,
                    HOSTILE,
                    33.0,
                    query="budget",
                    terms=("budget",),
                    level="Moderate",
                    headlines=(headline(50, "evil", HOSTILE, url="javascript:alert(2)"),),
                ),
            ],
            now=CLOCK - timedelta(minutes=5),
        )
        add_editor(store, EDITOR, PASSWORD, role="editor", now=CLOCK)
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser(axe=True)
    work = tmp_path_factory.mktemp("emerging")
    url = f"sqlite:///{work / 'emerging.db'}"
    _seed(url)
    with serve(url, work, options=("--now", CLOCK.isoformat())) as base:
        yield base


def test_track_a_proposal_in_a_browser(site: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            watch = Watch(page)
            log_in_through(page, site, "/emerging", EDITOR, PASSWORD)

            # The list: loudest first, the hostile one shown as text, nothing run.
            expect(page.locator("nav a[aria-current=page]")).to_have_text("Emerging")
            cards = page.locator("li.em-card")
            expect(cards).to_have_count(2)
            expect(cards.first.locator("h3")).to_have_text(TITLE)
            expect(cards.first).to_contain_text("precision 92%, recall 85%")
            expect(cards.first.locator(".spark polyline")).to_have_count(1)
            expect(cards.nth(1).locator("h3")).to_have_text(HOSTILE)
            expect(page.locator("a[href^='javascript' i]")).to_have_count(0)
            page.screenshot(path=str(SCREENSHOTS / "emerging.png"), full_page=True)
            assert serious(page) == []

            # The proposal: preview another query, which fills the Track form.
            cards.first.locator("h3 a").click()
            expect(page.locator("h1")).to_have_text(TITLE)
            expect(page.locator("#query")).to_contain_text("4 of 5 stored mentions")
            page.fill("#pv-query", '"thornbury dam" OR "dam breach"')
            page.click("#query button:has-text('Preview')")
            expect(page.locator("#query")).to_contain_text("5 of 5 stored mentions")
            expect(page.locator("#tr-query")).to_have_value('"thornbury dam" OR "dam breach"')
            page.screenshot(path=str(SCREENSHOTS / "emerging-detail.png"), full_page=True)
            assert serious(page) == []

            # Track it: the new story's review page, with its score history.
            page.fill("#tr-slug", "thornbury-dam")
            page.fill("#tr-title", "Thornbury dam failure")
            page.click("button:has-text('Track this story')")
            expect(page).to_have_url(f"{site}/stories/thornbury-dam")
            expect(page.locator(".flash")).to_contain_text("Tracked:")
            expect(page.locator("h1")).to_have_text("Thornbury dam failure")
            expect(page.locator(".heading .score")).to_have_count(1)
            expect(page.locator("figure.chart polyline.score-line")).not_to_have_count(0)
            expect(page.locator("figure.chart rect.bar")).not_to_have_count(0)
            page.screenshot(path=str(SCREENSHOTS / "emerging-tracked.png"), full_page=True)

            # Back on Emerging: decided, with a link to the story.
            page.click("nav a:has-text('Emerging')")
            expect(page.locator("li.em-card")).to_have_count(1)
            expect(page.locator("table.em-decided")).to_contain_text("tracked: thornbury-dam")

            # A reader (no session) sees the public story page with its noise level.
            reader = browser.new_context().new_page()
            reader.goto(f"{site}/stories/thornbury-dam")
            expect(reader.locator("h1")).to_have_text("Thornbury dam failure")
            expect(reader.get_by_role("meter", name="Noise Level")).to_have_count(1)
            expect(reader.locator(".spark polyline")).not_to_have_count(0)
            reader.screenshot(path=str(SCREENSHOTS / "emerging-public.png"), full_page=True)
            assert watch.problems == []
        finally:
            browser.close()
