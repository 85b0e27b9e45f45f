"""The offline demo end to end, twice, through the real command: the feeds and the social posts
collected, every story's Timeline as its simulated life cycle implies, the showcase story
published by the editor "demo", and a second run that adds nothing."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import create_engine, func, select

from noisecast.engine.cli import cli
from noisecast.engine.config import Settings
from noisecast.engine.demo.cycle import NewsCycle, generate_cycle
from noisecast.engine.demo.run import DEMO_START, MAJOR_OUTLETS, SHOWCASE, _print_summary
from noisecast.engine.schema import LEVELS
from noisecast.engine.store import Store
from noisecast.engine.store.tables import fetches, mentions, review_events, timeline_events

ROOT = Path(__file__).resolve().parents[1]
HOUR = timedelta(hours=1)
END = DEMO_START + 72 * HOUR


def demo(db: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "noisecast.engine",
            "--config",
            str(ROOT / "config.toml"),
            "demo",
            "--database",
            f"sqlite:///{db}",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@dataclass(frozen=True)
class Runs:
    cycle: NewsCycle
    first: dict[str, Any]  # the summary of the first run
    after_first: Path  # a copy of the database as the first run left it
    second: dict[str, Any]
    db: Path  # the database after both runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    directory = tmp_path_factory.mktemp("demo")
    db = directory / "demo.db"
    first = demo(db)
    after_first = directory / "after-first.db"
    shutil.copy(db, after_first)
    second = demo(db)
    return Runs(generate_cycle(DEMO_START, hours=72), first, after_first, second, db)


@pytest.fixture
def store(runs: Runs) -> Iterator[Store]:
    """The database as the first run left it (read only)."""
    s = Store.from_url(f"sqlite:///{runs.after_first}")
    yield s
    s.close()


def entries(store: Store, slug: str) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in store.timeline_entries(store.story_id(slug))}


def slug_of(cycle: NewsCycle, shape: str) -> str:
    return next(s.slug for s in cycle.stories if s.shape == shape)


def hourly_scores(store: Store, slug: str) -> list[tuple[datetime, float, str]]:
    frame = store.scores_frame(DEMO_START, END)
    frame = frame[frame["story"] == slug].sort_values("as_of")
    return [(r.as_of.to_pydatetime(), float(r.score), str(r.level)) for r in frame.itertuples()]


def social_per_hour(cycle: NewsCycle, slug: str) -> list[int]:
    counts = [0] * cycle.hours
    for p in cycle.posts:
        if p.story == slug:
            counts[int((p.published - cycle.start) / HOUR)] += 1
    return counts


# --- collection --------------------------------------------------------------------------------


def test_demo_twice(runs: Runs) -> None:
    cycle, first, second, db = runs.cycle, runs.first, runs.second, runs.db
    untracked = {s.slug for s in cycle.untracked}
    published = Counter(a.story for a in cycle.articles if a.story and a.story not in untracked)
    published.update(p.story for p in cycle.posts)

    # Every article and every social post of the cycle went over HTTP, through the parser or
    # the API reader, into the store, and was matched to exactly its own story's query.
    assert first["articles_published"] == len(cycle.articles)
    assert first["social_posts"] == len(cycle.posts) > 300
    assert first["new_mentions"] == len(cycle.articles) + len(cycle.posts)
    assert {s["slug"]: s["mentions"] for s in first["stories"]} == dict(published)
    assert first["fetches"] >= 32 * 24  # hour by hour, not one bulk fetch
    assert first["http_requests"] > first["fetches"]  # the social sources: a request a search
    by_slug = {s["slug"]: s for s in first["stories"]}
    assert by_slug["northmere-breach"]["last_24h"] == by_slug["northmere-breach"]["mentions"]
    assert by_slug["port-strike"]["last_24h"] < by_slug["port-strike"]["mentions"] * 0.1

    # It says how to look at its database, and those commands read it (not the config's).
    commands = first["commands"]
    assert commands[0] == f"noisecast --database sqlite:///{db} status"
    assert any(c.endswith(" score --as-of 2026-11-25T23:00Z") for c in commands)
    after = ["--now", "2026-11-26T00:30Z"]  # not the wall clock
    for command in commands:
        args = shlex.split(command)[1:]
        result = CliRunner().invoke(cli, [*after, *args, "--json"], env={"NOISECAST_CONFIG": None})
        assert result.exit_code == 0, (command, result.output)
    result = CliRunner().invoke(cli, [*after, *shlex.split(commands[1])[1:], "--json"])
    assert len(json.loads(result.stdout)) == len(first["stories"])

    assert second["new_mentions"] == 0
    assert second["stories"] == first["stories"]

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(mentions)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(mentions.c.source_id, mentions.c.external_id).distinct().subquery()
            )
        ).scalar_one()
        outcomes = dict(
            conn.execute(select(fetches.c.outcome, func.count()).group_by(fetches.c.outcome)).all()
        )
        kinds = dict(
            conn.execute(select(mentions.c.kind, func.count()).group_by(mentions.c.kind)).all()
        )
    engine.dispose()
    assert total == distinct == len(cycle.articles) + len(cycle.posts)
    assert kinds["hackernews"] == sum(p.platform == "hackernews" for p in cycle.posts)
    assert kinds["mastodon"] == sum(p.platform == "mastodon" for p in cycle.posts)
    assert set(outcomes) <= {"ok", "not_modified", "unchanged"}
    assert outcomes.get("not_modified", 0) > 0  # conditional GET did its job


# --- the Timelines ------------------------------------------------------------------------------


def test_every_story_has_a_timeline_read_from_its_life_cycle(runs: Runs, store: Store) -> None:
    """First seen is the story's first article; the first major report is the first article of
    a major outlet; social pickup is the hour the rule picks in the cycle's own posts; the
    level, peak and quiet entries agree with the stored scores."""
    cycle = runs.cycle
    majors = set(MAJOR_OUTLETS)
    names = {o.slug: o.name for o in cycle.outlets}
    for story in cycle.stories:
        found = entries(store, story.slug)
        assert found, story.slug
        assert all(e["status"] == "proposed" for e in found.values()) or story.slug == SHOWCASE
        articles = [a for a in cycle.articles if a.story == story.slug]
        first = articles[0]
        assert found["first_seen"]["at"] == first.published
        assert found["first_seen"]["link"] == first.url
        assert names[first.outlet] in found["first_seen"]["text"]  # its name, not its host
        major = next(a for a in articles if a.outlet in majors)  # wires cover every story
        if major is first:
            assert "first_major" not in found
        else:
            assert found["first_major"]["at"] == major.published
            assert found["first_major"]["link"] == major.url
            assert names[major.outlet] in found["first_major"]["text"]

        posts = social_per_hour(cycle, story.slug)
        pickup = next(
            (
                h
                for h, n in enumerate(posts)
                if n and n >= max(3, 3 * sum(posts[max(0, h - 24) : h]) / 24)
            ),
            None,
        )
        if pickup is None:
            assert "social_pickup" not in found
        else:
            social = found["social_pickup"]
            assert int((social["at"] - DEMO_START) / HOUR) == pickup, story.slug
            assert social["evidence"]["posts"] == posts[pickup]
            assert set(social["evidence"]["platforms"]) <= {"Hacker News", "Mastodon"}
            assert social["link"].startswith("https://")

        scores = hourly_scores(store, story.slug)
        assert len(scores) == 72
        for level in ("Moderate", "High", "Very high"):
            reached = next(
                (h for h, _, lv in scores if LEVELS.index(lv) >= LEVELS.index(level)), None
            )
            key = f"level:{level}"
            if reached is None:
                assert key not in found
            else:
                assert found[key]["at"] == reached + HOUR, (story.slug, key)
        loudest = max(scores, key=lambda s: (s[1], -s[0].timestamp()))
        assert found["peak"]["at"] == loudest[0] + HOUR
        if "quiet" in found:
            moderate = found["level:Moderate"]["at"]
            quiet = next(h for h, _, lv in scores if h + HOUR > moderate and lv == "Quiet")
            assert found["quiet"]["at"] == quiet + HOUR


def test_the_breaking_story_first_seen_major_social_high_then_peak(
    runs: Runs, store: Store
) -> None:
    found = entries(store, slug_of(runs.cycle, "late_breaker"))
    order = ["first_seen", "first_major", "social_pickup", "level:High", "peak"]
    times = [found[key]["at"] for key in order]
    assert times == sorted(times) and len(set(times)) == len(times), dict(
        zip(order, times, strict=True)
    )
    first_seen, first_major, social = times[:3]
    assert first_major - first_seen < 2 * HOUR  # the wires follow the scoop within the hour
    assert 1 * HOUR <= social - first_seen <= 4 * HOUR  # social a few hours after the news
    assert found["first_seen"]["at"] >= DEMO_START + 53 * HOUR  # silent for two days
    assert "quiet" not in found  # still loud at the end
    assert found["peak"]["text"].startswith("The story was at its loudest so far")


def test_the_spike_peaks_early_and_falls_back_to_quiet(runs: Runs, store: Store) -> None:
    found = entries(store, slug_of(runs.cycle, "spike"))
    order = ["first_seen", "level:Moderate", "level:High", "peak", "quiet"]
    times = [found[key]["at"] for key in order]
    assert times == sorted(times), dict(zip(order, times, strict=True))
    assert found["peak"]["at"] <= DEMO_START + 24 * HOUR  # the burst of the first day
    assert found["quiet"]["at"] - found["peak"]["at"] > 12 * HOUR  # a long tail, then quiet
    assert found["quiet"]["title"] == "Back to Quiet"


def test_the_slow_burn_climbs_level_by_level_and_peaks_late(runs: Runs, store: Store) -> None:
    found = entries(store, slug_of(runs.cycle, "slow_burn"))
    order = ["first_seen", "level:Moderate", "level:High", "level:Very high"]
    times = [found[key]["at"] for key in order]
    assert times == sorted(times) and len(set(times)) == len(times), dict(
        zip(order, times, strict=True)
    )
    assert found["level:High"]["at"] - found["level:Moderate"]["at"] > 12 * HOUR  # slowly
    assert found["peak"]["at"] >= DEMO_START + 48 * HOUR  # loudest in its last day
    assert "quiet" not in found


def test_the_hourly_job_kept_each_entry_and_audited_its_changes(store: Store) -> None:
    """One entry per key, proposed once and updated in place as the story grew (the peak of a
    rising story moves hour by hour), by the hourly job."""
    for story in store.list_stories("active"):
        history = store.timeline_history(int(story["id"]))
        by_entry = Counter((e["entry_key"], e["action"]) for e in history)
        keys = {e["key"] for e in store.timeline_entries(int(story["id"]))}
        assert {k for k, a in by_entry if a == "proposed"} == keys
        assert all(n == 1 for (_, a), n in by_entry.items() if a == "proposed")
        assert {e["actor"] for e in history if e["action"] != "approve"} == {"noisecast"}
    breaking = store.story_id(SHOWCASE)
    peaks = [e for e in store.timeline_history(breaking) if e["entry_key"] == "peak"]
    assert sum(e["action"] == "updated" for e in peaks) >= 3


# --- the showcase: a reader's page out of the box -----------------------------------------------


def test_the_demo_publishes_one_story_for_readers(runs: Runs, store: Store) -> None:
    story_id = store.story_id(SHOWCASE)
    [row] = store.published_rows(SHOWCASE)
    assert row["forecast_id"] is not None and row["forecast_reviewer"] == "demo"
    assert row["score"] is not None and row["level"] in LEVELS
    published = store.published_timeline(story_id)
    proposed = store.timeline_entries(story_id)
    assert len(published) == len(proposed) >= 5
    assert {e["kind"] for e in published} >= {"first_seen", "social_pickup", "level", "peak"}
    assert all(e["status"] == "approved" and not e["needs_review"] for e in proposed)
    assert all(e["reviewer"] == "demo" for e in proposed)
    # Nothing else is public: the other stories wait for an editor.
    for story in store.list_stories("active"):
        if story["slug"] != SHOWCASE:
            assert store.published_timeline(int(story["id"])) == []
            assert store.published_rows(story["slug"])[0]["forecast_id"] is None
    # The audit trail names the editor, for the forecast and for every entry.
    with store.reading() as conn:
        forecast_events = conn.execute(select(review_events.c.editor, review_events.c.action)).all()
        approvals = conn.execute(
            select(func.count()).where(
                timeline_events.c.actor == "demo", timeline_events.c.action == "approve"
            )
        ).scalar_one()
    assert [tuple(e) for e in forecast_events] == [("demo", "approve")]
    assert approvals == len(published)

    page = runs.first["story_page"]
    assert page["slug"] == SHOWCASE and page["editor"] == "demo"
    assert page["url"] == f"http://127.0.0.1:8000/stories/{SHOWCASE}"
    assert page["command"] == f"noisecast serve --dev --database sqlite:///{runs.db}"
    assert [e["title"] for e in page["timeline"]] == [e["title"] for e in published]


def test_the_summary_says_where_the_page_is(runs: Runs) -> None:
    out = io.StringIO()
    _print_summary(Console(file=out, width=200), runs.first)
    printed = out.getvalue()
    page = runs.first["story_page"]
    assert page["command"] in printed and page["url"] in printed
    assert printed.index(page["command"]) < printed.index(page["url"])  # serve, then open
    assert "Picked up on social" in printed and "First seen" in printed
    assert f"{len(runs.cycle.posts)} Hacker News and Mastodon posts" in printed
    assert "log in as demo" in printed


def test_running_the_demo_again_adds_no_entries_and_keeps_the_page(runs: Runs) -> None:
    before = Store.from_url(f"sqlite:///{runs.after_first}")
    after = Store.from_url(f"sqlite:///{runs.db}")
    try:
        for story in before.list_stories("active"):
            slug = story["slug"]
            old = before.timeline_entries(before.story_id(slug))
            new = after.timeline_entries(after.story_id(slug))
            fields = ("id", "key", "at", "title", "text", "link", "status")
            assert [[e[f] for f in fields] for e in new] == [[e[f] for f in fields] for e in old]
        assert after.published_timeline(after.story_id(SHOWCASE)) == before.published_timeline(
            before.story_id(SHOWCASE)
        )
        assert all(e["slug"] != SHOWCASE for e in after.pending_timeline(limit=1000))
        [row] = after.published_rows(SHOWCASE)
        assert row["forecast_id"] == runs.first["story_page"]["forecast_approved"]
    finally:
        before.close()
        after.close()
    assert runs.second["story_page"]["timeline"] == runs.first["story_page"]["timeline"]


def test_a_short_demo_publishes_the_story_it_has(tmp_path: Path) -> None:
    """Twelve hours end before the breaking story begins: the demo shows a story that has a
    timeline instead."""
    from noisecast.engine.demo.run import run_demo

    summary = run_demo(
        Settings(),
        hours=12,
        database_url=f"sqlite:///{tmp_path / 'short.db'}",
        console=Console(quiet=True),
        quiet=True,
    )
    page = summary["story_page"]
    assert page["slug"] != SHOWCASE and page["timeline"]
    assert page["url"].endswith(f"/stories/{page['slug']}")


@pytest.mark.postgres
def test_the_demo_on_postgresql_tells_the_same_story(
    runs: Runs, pg_url: str, tmp_path: Path
) -> None:
    """The same cycle collected into PostgreSQL: the same Timelines, the same page."""
    from noisecast.engine.demo.run import run_demo

    settings = Settings()
    models = settings.forecast.model_copy(update={"model_dir": str(tmp_path / "models")})
    summary = run_demo(
        settings.model_copy(update={"forecast": models}),
        database_url=pg_url,
        console=Console(quiet=True),
        quiet=True,
    )
    assert summary["new_mentions"] == runs.first["new_mentions"]
    assert summary["story_page"]["timeline"] == runs.first["story_page"]["timeline"]
    assert summary["alerts"]["received"] == runs.first["alerts"]["received"]
    fields = ("key", "kind", "at", "title", "text", "link", "status")
    sqlite = Store.from_url(f"sqlite:///{runs.after_first}")
    pg = Store.from_url(pg_url)
    try:
        for story in sqlite.list_stories("active"):
            slug = story["slug"]
            want = sqlite.timeline_entries(sqlite.story_id(slug))
            got = pg.timeline_entries(pg.story_id(slug))
            assert [[e[f] for f in fields] for e in got] == [[e[f] for f in fields] for e in want]
        assert pg.published_timeline(pg.story_id(SHOWCASE))
        assert pg.published_rows(SHOWCASE)[0]["forecast_id"] is not None
    finally:
        sqlite.close()
        pg.close()


# --- alerts: the demo newsroom's webhook --------------------------------------------------------


def test_the_demo_receiver_records_what_apprise_posts() -> None:
    """The receiver is a real HTTP server: Apprise's json:// posts its JSON document to it."""
    import apprise

    from noisecast.engine.demo.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        url = receiver.apprise_url("/alerts")
        assert url.startswith("json://127.0.0.1:") and url.endswith("/alerts")
        sender = apprise.Apprise()
        assert sender.add(url)
        assert sender.notify(body="Port strike reached High (71).\nref: 0123", title="Port strike")
        [got] = receiver.received
    assert got.path == "/alerts" and got.content_type.startswith("application/json")
    assert got.title == "Port strike"
    assert got.message == "Port strike reached High (71).\nref: 0123"
    with pytest.raises(ValueError, match="loopback"):
        WebhookReceiver(host="0.0.0.0")


def alert_lines(received: list[dict[str, str]]) -> list[str]:
    """Each alert a message carries, as text and link: a message is one alert (text, link,
    ref) or several ("- text link" lines, then the ref)."""
    lines = []
    for m in received:
        body = m["message"].splitlines()
        assert body[-1].startswith("ref: "), m
        if m["title"].startswith("noisecast: "):
            assert m["title"].startswith(f"noisecast: {len(body) - 1} alerts")
            lines += [line.removeprefix("- ") for line in body[:-1]]
        else:
            lines.append(" ".join(body[:-1]))
    return lines


def test_the_newsroom_webhook_got_each_alert_once_and_the_breaking_story_once(
    runs: Runs, store: Store
) -> None:
    """The rule `breaking` (level >= "High") fired through the outbox and Apprise to the demo's
    webhook: every alert recorded was received exactly once; the breaking story, High from its
    second hour on and still loud at the end, exactly once, as a firing."""
    alerts = runs.first["alerts"]
    assert alerts["destination"] == "newsroom" and alerts["rule"]["name"] == "breaking"
    events = store.recent_alerts(limit=1000)
    assert events and alerts["events"] == len(events)
    assert alerts["sent"] == len(events) and alerts["retry"] == alerts["failed"] == 0
    for e in events:
        [delivery] = e["deliveries"]
        assert (delivery["destination"], delivery["status"], delivery["attempts"]) == (
            "newsroom",
            "sent",
            1,
        )
    received = alert_lines(alerts["received"])
    assert sorted(received) == sorted(f"{e['text']} {e['link']}" for e in events)
    assert len(set(received)) == len(received)

    link = f"http://127.0.0.1:8000/stories/{SHOWCASE}"
    breaking = [e for e in events if e["slug"] == SHOWCASE]
    assert [(e["rule"], e["kind"]) for e in breaking] == [("breaking", "firing")]
    title = next(s.title for s in runs.cycle.stories if s.slug == SHOWCASE)
    assert breaking[0]["title"] == f"{title} reached High"
    [line] = [r for r in received if r.endswith(link)]
    assert line.startswith(f"{title} reached High (")
    # The other stories: a firing when they first reached High, reminders and a resolved one
    # when the spike fell back, as the rule's semantics say.
    kinds = Counter(e["kind"] for e in events)
    assert kinds["firing"] >= 3 and kinds["resolved"] >= 1


def test_running_the_demo_again_sends_no_alert(runs: Runs) -> None:
    second = runs.second["alerts"]
    assert second["received"] == []
    assert second["events"] == second["sent"] == 0
    after = Store.from_url(f"sqlite:///{runs.db}")
    try:
        again = after.recent_alerts(limit=1000)
    finally:
        after.close()
    assert len(again) == runs.first["alerts"]["events"]


def test_the_summary_prints_the_alert_the_newsroom_received(runs: Runs) -> None:
    out = io.StringIO()
    _print_summary(Console(file=out, width=200), runs.first)
    printed = out.getvalue()
    assert "Alerts the newsroom webhook received:" in printed
    [message] = [
        m for m in runs.first["alerts"]["received"] if f"/stories/{SHOWCASE}" in m["message"]
    ]
    for line in [message["title"], *message["message"].splitlines()]:
        assert line in printed
    assert printed.index("Alerts the newsroom") < printed.index(message["message"].splitlines()[0])

    out = io.StringIO()
    _print_summary(Console(file=out, width=200), runs.second)
    assert "the newsroom webhook received nothing new" in out.getvalue()


# --- emerging: the story nobody configured --------------------------------------------------------


def untracked_articles(cycle: NewsCycle) -> tuple[str, list[Any]]:
    (story,) = cycle.untracked
    return story.slug, [a for a in cycle.articles if a.story == story.slug]


def test_the_untracked_story_is_proposed_with_a_query_that_matches_it(
    runs: Runs, store: Store
) -> None:
    import html

    from noisecast.engine.core.match import parse_query

    slug, articles = untracked_articles(runs.cycle)
    assert slug not in {s["slug"] for s in store.list_stories()}  # never configured
    titles = {a.title for a in articles}
    (proposal,) = [
        p
        for p in store.list_proposals()
        if sum(h["title"] in titles for h in p["headlines"]) > len(p["headlines"]) // 2
    ]
    assert proposal["outlets"] >= 5 and proposal["size"] >= len(articles) // 2
    query = parse_query(proposal["query"])
    mine, others = [], []
    for a in runs.cycle.articles:
        (mine if a.story == slug else others).append(
            query.matches(a.title, html.unescape(a.summary))
        )
    assert sum(mine) >= 0.9 * len(mine), proposal["query"]
    assert not any(others), proposal["query"]
    # the summary names it, with its query
    top = runs.first["emerging"]["top"]
    assert top["title"] == proposal["title"] and top["query"] == proposal["query"]
    out = io.StringIO()
    _print_summary(Console(file=out, width=300), runs.first)
    assert f"the loudest is {proposal['title']}" in out.getvalue()
    assert proposal["query"] in out.getvalue()


def test_tracking_the_untracked_story_scores_it_back_to_its_first_mention(
    runs: Runs, tmp_path: Path
) -> None:
    from noisecast.engine.jobs.emerging import track_proposal
    from noisecast.engine.schema import floor_hour

    db = tmp_path / "track.db"
    shutil.copy(runs.after_first, db)
    slug, articles = untracked_articles(runs.cycle)
    store = Store.from_url(f"sqlite:///{db}")
    try:
        titles = {a.title for a in articles}
        proposal = next(
            p for p in store.list_proposals() if any(h["title"] in titles for h in p["headlines"])
        )
        track_proposal(
            store,
            Settings(),
            proposal["id"],
            slug=slug,
            title="Halvard chip export ban",
            query=proposal["query"],
            actor="test",
            expected_version=proposal["version"],
            now=END,
        )
        scores = hourly_scores(store, slug)
        first = floor_hour(min(a.published for a in articles))
        assert scores[0][0] == first
        assert [at for at, _, _ in scores] == [first + i * HOUR for i in range(len(scores))]
        assert scores[-1][0] == END - HOUR and scores[-1][1] > 0
        assert store.mention_counts()[slug] >= 0.9 * len(articles)
    finally:
        store.close()
