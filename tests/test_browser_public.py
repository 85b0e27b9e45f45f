"""The public story page and its widgets in a real browser: Playwright driving Debian's
Chromium against ``noisecast serve`` on 127.0.0.1 over a seeded SQLite database (the seed of
tests/test_public.py: approved, pending, proposed, hidden and hostile words).

The page and each widget render at 1280 and 320 px (screenshots in var/screenshots/), with no
horizontal scrolling at 320 px and nothing refused by their Content-Security-Policy; axe-core
(axe-playwright-python) finds no serious or critical violation; hostile text runs nothing; a
widget framed by an origin that ``[public] frame_ancestors`` does not list is refused, and
framed by one it lists renders.

Skipped without Chromium (or Playwright, or axe-playwright-python) locally; required when CI
is set."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from noisecast.engine.store import Store
from tests.conftest import ROOT
from tests.test_public import HOSTILE_TITLE, seed
from tests.web_helpers import (
    CHROMIUM,
    SCREENSHOTS,
    Watch,
    free_port,
    require_browser,
    serious,
    serve,
)

WIDGETS = ("noise", "forecast", "timeline")
WIDTHS = (1280, 320)

pytestmark = pytest.mark.slow


def _config(path: Path, frame_origin: str) -> Path:
    """The repository's config.toml with one origin allowed to frame the widgets."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text, done = re.subn(
        r"(?m)^frame_ancestors = \[\]", f'frame_ancestors = ["{frame_origin}"]', text
    )
    assert done == 1, "config.toml has no `frame_ancestors = []` line under [public]"
    path.write_text(text, encoding="utf-8")
    return path


class _Framer(BaseHTTPRequestHandler):
    """A news site on another origin: ``/WIDGET`` is a page that frames that widget of the
    story, ``/page`` one that frames the story page itself."""

    base = ""

    def do_GET(self) -> None:
        name = self.path.strip("/")
        target = (
            f"{self.base}/stories/breach" if name == "page" else f"{self.base}/embed/breach/{name}"
        )
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>News site</title>'
            f'</head><body><h1>A news story</h1><iframe src="{target}" '
            'title="Story signals" width="340" height="400"></iframe></body></html>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_browser(axe=True)
    work = tmp_path_factory.mktemp("public")
    url = f"sqlite:///{work / 'public.db'}"
    store = Store.from_url(url)
    try:
        store.migrate()
        seed(store)
    finally:
        store.close()

    port, frame_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    allowed = f"http://localhost:{frame_port}"  # same server, two origins: one allowed
    refused = f"http://127.0.0.1:{frame_port}"
    framer = type("Framer", (_Framer,), {"base": base})
    frames = ThreadingHTTPServer(("127.0.0.1", frame_port), framer)
    threading.Thread(target=frames.serve_forever, daemon=True).start()

    try:
        with serve(
            url,
            work,
            config=_config(work / "config.toml", allowed),
            ready_path="/stories/breach",
            port=port,
        ):
            yield {"base": base, "allowed": allowed, "refused": refused}
    finally:
        frames.shutdown()
        frames.server_close()


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _scroll_width(page: Any) -> int:
    return int(page.evaluate("document.scrollingElement.scrollWidth"))


@pytest.mark.parametrize("width", WIDTHS)
def test_story_page_in_a_browser(site: dict[str, Any], browser: Any, width: int) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        watch = Watch(page)
        response = page.goto(f"{site['base']}/stories/breach")
        assert response is not None and response.status == 200
        expect(page.locator("h1")).to_have_text("Northmere Bank data breach")
        meter = page.get_by_role("meter", name="Noise Level")
        expect(meter).to_have_attribute("aria-valuetext", "75 out of 100, High")
        expect(page.locator(".reading")).to_contain_text("75 / 100 — High")
        expect(page.locator(".spark polyline")).to_have_count(1)
        expect(page.locator(".box-forecast .hedge")).to_have_text(
            "Based on current signals. Events may develop differently."
        )
        # said once: the approved text's own closing words give way to the fixed line
        expect(page.locator(".box-forecast").get_by_text("may develop differently")).to_have_count(
            1
        )
        expect(page.locator(".timeline > li")).to_have_count(3)
        expect(page.locator(".timeline").get_by_text(HOSTILE_TITLE)).to_have_count(1)
        expect(page.locator("a[href^='javascript' i]")).to_have_count(0)
        expect(page.locator("script")).to_have_count(0)
        for landmark in ("banner", "main", "contentinfo"):
            expect(page.get_by_role(landmark)).to_have_count(1)
        # the stylesheet applied (a refused one would leave the boxes unstyled)
        assert page.locator(".level").evaluate("e => getComputedStyle(e).color") == (
            "rgb(255, 255, 255)"
        )
        page.screenshot(path=str(SCREENSHOTS / f"public-story-{width}.png"), full_page=True)
        assert _scroll_width(page) <= width
        assert serious(page) == []
        page.wait_for_timeout(100)
        assert watch.problems == []
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("widget", WIDGETS)
def test_widget_in_a_browser(site: dict[str, Any], browser: Any, widget: str, width: int) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": min(width, 600), "height": 700})
    try:
        watch = Watch(page)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        url = f"{site['base']}/embed/breach/{widget}"
        response = page.goto(url)
        assert response is not None and response.status == 200
        expect(page.locator("h1")).to_have_text(
            {"noise": "Noise Level", "forecast": "Forecast", "timeline": "Timeline"}[widget]
        )
        assert page.locator(".box").evaluate("e => getComputedStyle(e).borderTopWidth") == "4px"
        assert requests == [url]  # self-contained: nothing else is fetched
        page.screenshot(path=str(SCREENSHOTS / f"public-embed-{widget}-{width}.png"))
        assert _scroll_width(page) <= min(width, 600)
        assert serious(page) == []
        page.wait_for_timeout(100)
        assert watch.problems == []
    finally:
        page.close()


def _framed(browser: Any, origin: str, name: str) -> str:
    """The text a page on ``origin`` gets to show in its frame of ``name`` (a widget, or
    ``page``): empty when the browser refused to render it there."""
    page = browser.new_page(viewport={"width": 600, "height": 600})
    try:
        page.goto(f"{origin}/{name}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)
        frames = [f for f in page.frames if f != page.main_frame]
        assert len(frames) == 1
        try:
            return str(frames[0].evaluate("() => document.body ? document.body.innerText : ''"))
        except Exception:  # a refused frame may be an error page that cannot be read
            return ""
    finally:
        page.close()


@pytest.mark.parametrize("widget", WIDGETS)
def test_framing_follows_frame_ancestors(site: dict[str, Any], browser: Any, widget: str) -> None:
    """Framed by the listed origin, the widget renders; by another, the browser refuses."""
    heading = {"noise": "Noise Level", "forecast": "Forecast", "timeline": "Timeline"}[widget]
    assert heading.upper() in _framed(browser, site["allowed"], widget).upper()
    refused = _framed(browser, site["refused"], widget)
    assert heading.upper() not in refused.upper() and "Northmere" not in refused


def test_story_page_cannot_be_framed(site: dict[str, Any], browser: Any) -> None:
    """The page itself (frame-ancestors 'none', X-Frame-Options DENY) is refused even to the
    origin allowed to frame the widgets."""
    assert "Northmere" not in _framed(browser, site["allowed"], "page")
