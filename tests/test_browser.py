"""The whole review in a real browser: Playwright driving Debian's Chromium against
``noisecast serve`` on 127.0.0.1 over a copy of the demo database. Log in, open the queue,
open a story, edit and approve a suggestion, see it published; approve a timeline entry and add
an editor's entry; hostile feed text stays inert. Screenshots of the queue, a story view and its
Timeline go to var/screenshots/ (kept by CI).

Skipped without Chromium (or Playwright) locally; required when CI is set."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from noisecast.engine.store import Store
from noisecast.engine.store.tables import mentions, sources, stories, story_mentions
from noisecast.engine.web.accounts import demo_review
from tests.conftest import copy_demo
from tests.web_helpers import CHROMIUM, SCREENSHOTS, require_browser, serve

END = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"

pytestmark = pytest.mark.slow


def _plant_hostile_mention(url: str) -> None:
    """A mention of the quiet stadium story titled <script>, linking to javascript:."""
    store = Store.from_url(url)
    try:
        with store.transaction() as conn:
            story_id = conn.execute(
                select(stories.c.id).where(stories.c.slug == "saltmarsh-rovers")
            ).scalar_one()
            source_id = conn.execute(select(sources.c.id).limit(1)).scalar_one()
            when = END - timedelta(minutes=10)
            mention_id = conn.execute(
                mentions.insert().values(
                    source_id=source_id,
                    external_id="hostile",
                    kind="rss",
                    url="javascript:alert(document.cookie)",
                    title_key="hostile",
                    title=HOSTILE,
                    author="<img src=x onerror=alert(2)>",
                    published_at=when,
                    fetched_at=when,
                    updated_at=when,
                    score=1000,
                )
            ).inserted_primary_key[0]
            conn.execute(
                story_mentions.insert().values(
                    story_id=story_id, mention_id=mention_id, matched_terms=[], matched_at=when
                )
            )
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(
    demo_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    require_browser()
    db = copy_demo(demo_template, tmp_path_factory.mktemp("browser"))
    url = f"sqlite:///{db}"
    _plant_hostile_mention(url)
    login = demo_review(url, now=END)  # what `make demo` prints: editor demo, a new password
    with serve(url, tmp_path_factory.mktemp("serve-log")) as base:
        yield {"base": base, **login}


def test_review_in_a_browser(server: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server["base"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # Log in: the queue sends us to the login form and back.
            page.goto(f"{base}/")
            expect(page).to_have_url(f"{base}/login?next=/")
            page.fill("input[name=username]", server["editor"])
            page.fill("input[name=password]", "wrong password")
            page.click("button:has-text('Log in')")
            expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
            page.fill("input[name=password]", server["password"])
            page.click("button:has-text('Log in')")
            expect(page).to_have_url(f"{base}/")

            # The queue: pending suggestions, loudest first, each with its evidence (the demo
            # published its showcase story's forecast); beside them, the timeline entries
            # waiting for review, a count per story.
            expect(page.locator("h1")).to_have_text("Suggestions to review")
            cards = page.locator("article.card")
            expect(cards.first.locator("svg.spark polyline")).to_have_count(1)
            waiting = cards.count()
            assert waiting >= 2
            aside = page.locator("aside.queue-timeline")
            elden_count = aside.locator(".tl-story", has_text="River Elden flood risk")
            expect(elden_count.locator(".tl-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
            elden_waiting = int(elden_count.locator(".tl-count").inner_text())
            page.screenshot(path=str(SCREENSHOTS / "review-queue.png"))

            # A story: the chart, the components, the top mentions, the suggestion.
            page.click("article h2 a:has-text('River Elden flood risk')")
            expect(page).to_have_url(f"{base}/stories/elden-flood")
            expect(page.locator("figure.chart rect.band")).to_have_count(1)
            expect(page.locator("table.components tbody tr")).to_have_count(4)
            expect(page.locator("ol.mentions > li")).to_have_count(15)
            page.screenshot(path=str(SCREENSHOTS / "review-story.png"), full_page=True)

            # Edit and approve: the hedge stays, the middle is the editor's.
            suggested = page.locator("section.pending blockquote.suggestion").inner_text()
            page.click("section.pending a:has-text('Edit')")
            text = (
                "Based on current signals, attention to the River Elden floods may keep "
                "growing over the next day. Events may develop differently."
            )
            page.fill("textarea[name=text]", "The floods will get worse.")
            page.click("button:has-text('Save and approve')")
            expect(page.get_by_role("alert")).to_contain_text("only an admin may remove the hedge")
            page.fill("textarea[name=text]", text)
            page.click("button:has-text('Save and approve')")
            expect(page).to_have_url(f"{base}/stories/elden-flood")
            expect(page.locator(".flash")).to_contain_text("Edited and approved")
            expect(page.locator("table.events tbody tr").first).to_contain_text("edit")
            page.screenshot(path=str(SCREENSHOTS / "review-story-approved.png"), full_page=True)

            # The Timeline: approve one proposed entry as noisecast wrote it.
            timeline = page.locator("#timeline")
            proposed = timeline.locator("li.tl-entry-proposed")
            before = proposed.count()
            assert before == elden_waiting
            entry = proposed.first
            entry_id = entry.get_attribute("id")
            entry_title = entry.locator(".tl-title strong").inner_text()
            assert entry.locator("dl.evidence dd").count() >= 1  # its evidence, in short
            entry.locator("button:has-text('Approve')").click()
            expect(page).to_have_url(f"{base}/stories/elden-flood#timeline")
            expect(page.locator(".flash")).to_contain_text(f"Approved: “{entry_title}”")
            expect(page.locator(f"#{entry_id} .tl-status")).to_have_text("approved")
            expect(proposed).to_have_count(before - 1)

            # Add an editor's entry: a javascript: link is refused, naming the field, with
            # what was typed kept; then an https link is published.
            page.click("#add-entry summary")
            memo = "Council staff were warned of the flood risk in an internal memo."
            page.fill("#add-at", "2026-11-24 09:30")
            page.fill("#add-title", "Internal memo sent")
            page.fill("#add-text", memo)
            page.fill("#add-link", "javascript:alert(1)")
            page.locator("#add-entry").screenshot(path=str(SCREENSHOTS / "review-timeline-add.png"))
            page.click("button:has-text('Add and publish')")
            expect(page.get_by_role("alert")).to_contain_text("Link:")
            expect(page.locator("input[name=link]")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("input[name=title]")).to_have_value("Internal memo sent")
            page.screenshot(path=str(SCREENSHOTS / "review-timeline-error.png"), full_page=True)
            page.fill("input[name=link]", "https://council.example/memo")
            page.click("button:has-text('Add and publish')")
            expect(page).to_have_url(f"{base}/stories/elden-flood#timeline")
            expect(page.locator(".flash")).to_contain_text("Added and published")
            added = timeline.locator("li.tl-entry", has_text="Internal memo sent")
            expect(added.locator(".tl-status")).to_have_text("approved")
            expect(added.locator("a[href='https://council.example/memo']")).to_have_count(1)
            history = page.locator("table.tl-events tbody tr")
            expect(history.first).to_contain_text("added")
            expect(history.first).to_contain_text("Internal memo sent")
            expect(history.nth(1)).to_contain_text("approve")
            timeline.screenshot(path=str(SCREENSHOTS / "review-timeline.png"))
            page.locator("#history").screenshot(path=str(SCREENSHOTS / "review-history.png"))
            published_timeline = json.loads(
                httpx.get(f"{base}/api/stories/elden-flood", timeout=5).text
            ).get("timeline", [])
            assert {e["title"] for e in published_timeline} >= {entry_title, "Internal memo sent"}

            # Published.
            response = page.goto(f"{base}/api/stories/elden-flood")
            assert response is not None and response.status == 200
            assert response.headers["cache-control"] == "public, max-age=60"
            published = json.loads(response.text())
            assert published["forecast"]["text"] == text
            assert published["forecast"]["edited"] is True
            assert published["hedge"] == "Based on current signals"

            # Back in the queue: one suggestion and one timeline entry fewer; the approved
            # suggestion is under "approved".
            page.goto(f"{base}/")
            expect(page.locator("article.card")).to_have_count(waiting - 1)
            expect(elden_count.locator(".tl-count")).to_have_text(str(elden_waiting - 1))
            page.select_option("select[name=status]", "approved")
            page.click("button:has-text('Filter')")
            elden = page.locator("article.card", has_text="River Elden flood risk")
            expect(elden).to_have_count(1)
            expect(elden.locator(".final")).to_contain_text(text)
            assert suggested in elden.locator("blockquote").inner_text()

            # Hostile feed text: shown as text, never run, never a link.
            page.goto(f"{base}/stories/saltmarsh-rovers")
            expect(page.locator("ol.mentions").get_by_text(HOSTILE)).to_have_count(1)
            expect(page.locator("a[href^='javascript' i]")).to_have_count(0)
            expect(page.locator("ol.mentions script")).to_have_count(0)
            page.wait_for_timeout(200)
            assert dialogs == [] and errors == []

            # Logging out ends the session: the queue asks for a login again, and the story's
            # address shows the readers' page, with what was approved and no review forms.
            page.click("button:has-text('Log out')")
            expect(page).to_have_url(f"{base}/login")
            page.goto(f"{base}/")
            expect(page).to_have_url(f"{base}/login?next=/")
            page.goto(f"{base}/stories/elden-flood")
            expect(page).to_have_url(f"{base}/stories/elden-flood")
            expect(page.locator("form")).to_have_count(0)
            readers_timeline = page.get_by_role("region", name="Timeline")
            expect(readers_timeline.get_by_text("Internal memo sent")).to_have_count(1)
            expect(readers_timeline.get_by_text(entry_title, exact=True)).to_have_count(1)
        finally:
            browser.close()
