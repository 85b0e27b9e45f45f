"""``noisecast demo``: a simulated news cycle, collected hour by simulated hour, offline.

The generator (:mod:`noisecast.engine.demo.cycle`) writes the cycle; :class:`DemoFeedServer` serves
each outlet's feed, and the cycle's Hacker News and Mastodon posts on those APIs' paths, on
127.0.0.1 as they stood at the simulated hour; the real collectors fetch and parse them over
HTTP and store them, exactly as they would a publisher's feed or the real APIs. Only the
politeness limits differ (it is our own loopback server, so no per-host gap and no jitter), and
the intervals stay between one and three hours.

After each simulated hour the demo does what the hourly cycle does: it clusters the mentions
just collected (issue 14), scores the hour that just ended, brings the stories' Timelines up to
date and evaluates the alert rules, then runs a delivery pass; every ``EMERGING_EVERY`` hours
and at the end it proposes the loud stories nobody tracks (the cycle does every hour). The
cycle has one such story (:data:`noisecast.engine.demo._catalogue.UNTRACKED`), and the summary
prints the loudest proposal with its suggested query. The newsroom's alert destination is a
webhook the demo receives itself (:class:`WebhookReceiver` on 127.0.0.1, reached through
Apprise's ``json://``, its URL passed as a secret and never written to a file); the rule
``breaking`` sends a message when a story reaches High, and the summary prints what the webhook
received for the breaking story.

After the last hour every source is fetched once more, so the table shows the whole cycle,
and the whole cycle is scored again with everything collected. Then the forecasts, and the
showcase: as the editor ``demo``, through the same review methods an editor's clicks use (so
the audit trail shows it), the demo approves the breaking story's forecast and its timeline,
so that its public page (``/stories/<slug>``) is complete out of the box.

Running it again re-collects the same cycle into the same database: every entry is already
there, so nothing is added, and every hour's alerts were already evaluated, so the webhook
receives nothing, which is the point.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import func, select, update

from noisecast.engine.config import (
    AlertDestinationSettings,
    AlertRuleSettings,
    DatabaseSettings,
    OutletSettings,
    Secrets,
    Settings,
    SourceSettings,
    StorySettings,
)
from noisecast.engine.demo.cycle import NewsCycle, generate_cycle
from noisecast.engine.demo.receiver import Received, WebhookReceiver
from noisecast.engine.demo.server import DemoFeedServer
from noisecast.engine.demo.showcase import publish_showcase
from noisecast.engine.demo.social import story_tags
from noisecast.engine.jobs.alerts import deliver_alerts, evaluate_alerts
from noisecast.engine.jobs.catalog import sync_from_config
from noisecast.engine.jobs.collect import collect
from noisecast.engine.jobs.emerging import cluster_new_mentions, update_emerging
from noisecast.engine.jobs.forecasting import update_forecasts
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.jobs.timeline import update_timeline
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mention_time, mentions, sources, stories, story_mentions
from noisecast.engine.web.accounts import demo_review, program_name

DEMO_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The newsroom's major outlets among the demo's: its biggest wire service and a national paper.
MAJOR_OUTLETS = ("coastline-press", "national-courier")
# Proposals of untracked stories are made every EMERGING_EVERY simulated hours and at the end
# (the cycle makes them every hour; each look costs the demo about half a second).
EMERGING_EVERY = 12
SHOWCASE = "northmere-breach"  # the breaking story, whose public page the demo fills
NEWSROOM = "newsroom"  # the demo's alert destination: a webhook on 127.0.0.1 the demo receives
BREAKING = AlertRuleSettings(
    name="breaking", stories="all", when='level >= "High"', to=(NEWSROOM,), send_resolved=True
)


def demo_settings(
    settings: Settings, cycle: NewsCycle, server: DemoFeedServer, database_url: str
) -> Settings:
    """The user's settings, pointed at the demo database, the demo feeds and the demo stories."""
    collector = settings.collector.model_copy(
        update={
            "per_host_min_gap_seconds": 0.0,
            "per_host_concurrency": 4,
            "jitter_fraction": 0.0,
            "default_interval_minutes": 60,
            "min_interval_minutes": 60,
            "max_interval_minutes": 180,
            # The demo's feeds are served on 127.0.0.1.
            "allow_private_networks": (*settings.collector.allow_private_networks, "127.0.0.0/8"),
        }
    )
    forecast = settings.forecast
    if database_url.startswith("sqlite:///"):  # the demo's models beside its database
        models = Path(database_url.removeprefix("sqlite:///")).parent / "models"
        forecast = forecast.model_copy(update={"model_dir": str(models)})
    return settings.model_copy(
        update={
            "database": DatabaseSettings(url=database_url),
            "collector": collector,
            "forecast": forecast,
            "sources": (
                *(
                    SourceSettings(kind=o.format, name=o.slug, url=server.url_for(o))
                    for o in cycle.outlets
                ),
                *social_sources(cycle, server),
            ),
            "outlets": tuple(
                OutletSettings(
                    host=o.host,
                    name=o.name,
                    tier="major" if o.slug in MAJOR_OUTLETS else "standard",
                )
                for o in cycle.outlets
            ),
            "stories": tuple(
                StorySettings(slug=s.slug, title=s.title, query=s.query) for s in cycle.stories
            ),
            # The demo's own alerts, not the config's: its destinations' secrets are not here,
            # and a simulated story must not reach a real newsroom.
            "alerts": settings.alerts.model_copy(
                update={
                    "enabled": True,
                    "destinations": {
                        NEWSROOM: AlertDestinationSettings(secret=NEWSROOM, audience="desk")
                    },
                    "rules": (BREAKING,),
                }
            ),
        }
    )


def social_sources(cycle: NewsCycle, server: DemoFeedServer) -> tuple[SourceSettings, ...]:
    """A Mastodon instance following each story's hashtags, and Hacker News's search, both
    answered by the demo server."""
    tags = {s.slug: story_tags(s.slug) for s in cycle.stories}
    return (
        SourceSettings(
            kind="mastodon",
            name="mastodon",
            url=server.base_url,
            options={"tags": {slug: found for slug, found in tags.items() if found}},
        ),
        SourceSettings(
            kind="hackernews",
            name="hacker-news",
            url=server.hn_url,
            # River Elden's query has five alternatives; points settle within the demo's ramp.
            options={"max_searches": 6, "lookback_hours": 12},
        ),
    )


def default_database_url(settings: Settings) -> str:
    base = settings.path.resolve().parent if settings.path else Path.cwd()
    return f"sqlite:///{base / 'var' / 'demo.db'}"


def run_demo(
    settings: Settings,
    *,
    hours: int = 72,
    seed: int = 20261126,
    database_url: str | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Generate, serve and collect the demo cycle; print the story table; return a summary."""
    console = console or Console()
    started = time.monotonic()
    cycle = generate_cycle(DEMO_START, hours=hours, seed=seed)
    url = database_url or default_database_url(settings)
    with DemoFeedServer(cycle) as server, WebhookReceiver() as receiver:
        demo = demo_settings(settings, cycle, server, url)
        secrets = Secrets(alert_urls={NEWSROOM: receiver.apprise_url("/alerts")})
        alerted: dict[str, int] = {}
        store = Store.open(demo.database)
        try:
            store.migrate()
            sync_from_config(store, demo, now=DEMO_START)
            _rewind(store, DEMO_START)
            fetched = new = 0
            with Progress(
                TextColumn("[bold]demo[/] simulated hour"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[new]} new mentions"),
                console=console,
                transient=True,
                disable=quiet,
            ) as progress:
                task = progress.add_task("hours", total=hours, new=0)
                for hour in range(1, hours + 1):
                    now = DEMO_START + timedelta(hours=hour)
                    server.set_time(now)
                    report = collect(store, demo.collector, now=now)
                    fetched += len(report.sources)
                    new += report.items_new
                    # What the hourly cycle does once the hour is over: cluster what came in,
                    # score the hour, then the Timelines, the emerging stories and the alerts,
                    # then a delivery pass (noisecast.engine.jobs.cycle).
                    look = hour % EMERGING_EVERY == 0  # the desk's look at what is emerging
                    cluster_new_mentions(store, demo, now=now, flush=look)
                    update_noise(store, demo, start=now - HOUR, end=now)
                    update_timeline(store, demo, now=now)
                    if look:
                        update_emerging(store, demo, now - HOUR, now=now)
                    _count(alerted, evaluate_alerts(store, demo, hour=now - HOUR, now=now))
                    _count(alerted, deliver_alerts(store, demo, secrets, now=now))
                    progress.update(task, advance=1, new=new)
                # A last sweep of every source, so the table shows the whole cycle.
                report = collect(store, demo.collector, now=now, force=True)
                fetched += len(report.sources)
                new += report.items_new
            end = DEMO_START + timedelta(hours=hours)
            # The whole cycle scored again with everything collected (late mentions included),
            # and the Timelines brought in line with those scores.
            cluster_new_mentions(store, demo, now=end, flush=True)
            noise = update_noise(store, demo, start=DEMO_START, end=end)
            update_timeline(store, demo, now=end)
            update_emerging(store, demo, end - HOUR, now=end)
            emerging = _emerging_summary(store.list_proposals())
            outlook = update_forecasts(store, demo, now=end)
            # The editor "demo" (a new password each run), who then publishes the showcase.
            review = demo_review(url, now=end)
            showcase = publish_showcase(store, SHOWCASE, editor=review["editor"], now=end)
            rows = story_table(store, end)
            predicted = store.forecasts_frame(since=end, until=end + timedelta(hours=1))
            by_forecast = {r.story: r for r in predicted.itertuples()}
            latest = store.scores_frame(end - timedelta(hours=1), end)
            by_story = {r.story: r for r in latest.itertuples()}
            for row in rows:
                scored = by_story.get(row["slug"])
                row["score"] = round(float(scored.score), 2) if scored is not None else None
                row["level"] = str(scored.level) if scored is not None else None
                f = by_forecast.get(row["slug"])
                row["forecast"] = (
                    None
                    if f is None
                    else {
                        "p10": float(f.p10),
                        "p90": float(f.p90),
                        "prob_rising": float(f.prob_rising),
                        "says": f.hedge_word,
                        "low_confidence": bool(f.low_confidence),
                    }
                )
                row["timeline"] = len(store.timeline_entries(store.story_id(row["slug"])))
            where = store.engine.url.render_as_string(hide_password=True)
        finally:
            store.close()
    summary = {
        "database": where,
        "hours": hours,
        "outlets": len(cycle.outlets),
        "articles_published": len(cycle.articles),
        "social_posts": len(cycle.posts),
        "fetches": fetched,
        "new_mentions": new,
        "scores": noise.scores,
        "forecasts": outlook.forecasts,
        "model": outlook.model_version,
        "http_requests": server.requests,
        "seconds": round(time.monotonic() - started, 1),
        "stories": rows,
        "emerging": emerging,
        "alerts": {
            "destination": NEWSROOM,
            "rule": {"name": BREAKING.name, "when": BREAKING.when},
            **{key: alerted.get(key, 0) for key in ("events", "muted", "sent", "retry", "failed")},
            "received": [_message(r) for r in receiver.received],
        },
    }
    last_hour = DEMO_START + timedelta(hours=hours - 1)
    summary["commands"] = look_commands(url, last_hour, today=datetime.now(UTC))
    summary["review"] = review
    summary["story_page"] = {
        **showcase,
        "url": f"{review['url']}stories/{showcase['slug']}",
        "command": review["command"],
    }
    if not quiet:
        _print_summary(console, summary)
    return summary


def _emerging_summary(proposals: list[dict[str, Any]]) -> dict[str, Any]:
    """How many stories nobody tracks are proposed, and the loudest with its suggested query."""
    top = proposals[0] if proposals else None
    return {
        "proposals": len(proposals),
        "top": None
        if top is None
        else {
            "id": int(top["id"]),
            "title": str(top["title"]),
            "query": str(top["query"]),
            "score": round(float(top["score"]), 2),
            "level": str(top["level"]),
            "size": int(top["size"]),
            "outlets": int(top["outlets"]),
            "precision": float(top["quality"]["precision"]),
            "recall": float(top["quality"]["recall"]),
        },
    }


def _count(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, n in counts.items():
        totals[key] = totals.get(key, 0) + n


def _message(received: Received) -> dict[str, str]:
    return {"title": received.title, "message": received.message}


def look_commands(database_url: str, last_hour: datetime, *, today: datetime) -> list[str]:
    """The commands that look at the demo's database (not ``[database] url`` of the config).
    ``today`` sets how many days back ``stories test`` must look to reach the demo's cycle."""
    base = f"{program_name()} --database {shlex.quote(database_url)}"
    days = max(7, (today - DEMO_START).days + 2)
    query = shlex.quote('dockworkers OR "port strike"')
    return [
        f"{base} status",
        f"{base} stories list",
        f"{base} sources list",
        f"{base} score --as-of {last_hour:%Y-%m-%dT%H:%MZ}",
        f"{base} stories test {query} --days {days}",
        f"{base} alerts list",
        f"{base} emerging",
    ]


def _rewind(store: Store, start: datetime) -> None:
    """Make every source of the demo database due at the start again, to replay the cycle.

    (``sync_from_config`` has already pointed them at this run's server port.)
    """
    with store.transaction() as conn:
        conn.execute(
            update(sources).values(
                next_due_at=start,
                interval_minutes=60,
                failures=0,
                consecutive_failures=0,
                disabled_at=None,
                disabled_reason=None,
            )
        )


def story_table(store: Store, now: datetime) -> list[dict[str, Any]]:
    """Per story: mentions so far, distinct outlets, mentions in the last 24 hours."""
    day_ago = now - timedelta(hours=24)
    seen = mention_time()
    query = (
        select(
            stories.c.slug,
            stories.c.title,
            func.count(mentions.c.id).label("mentions"),
            func.count(func.distinct(mentions.c.outlet)).label("outlets"),
            func.count(mentions.c.id).filter(seen > day_ago).label("last_24h"),
        )
        .select_from(
            stories.outerjoin(story_mentions).outerjoin(
                mentions, mentions.c.id == story_mentions.c.mention_id
            )
        )
        .where(stories.c.status == "active")
        .group_by(stories.c.slug, stories.c.title)
        .order_by(func.count(mentions.c.id).desc())
    )
    with store.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"Demo news cycle after {summary['hours']} simulated hours (loudest first)")
    table.add_column("story")
    for column in ("mentions", "outlets", "last 24h", "noise"):
        table.add_column(column, justify="right")
    table.add_column("level")
    table.add_column("next 24h", justify="right")
    table.add_column("rising")
    for row in sorted(summary["stories"], key=lambda r: -(r["score"] or 0)):
        f = row.get("forecast")
        table.add_row(
            row["slug"],
            str(row["mentions"]),
            str(row["outlets"]),
            str(row["last_24h"]),
            f"{row['score']:.0f}" if row["score"] is not None else "-",
            row["level"] or "-",
            "-" if f is None else f"{f['p10']:,.0f}-{f['p90']:,.0f}",
            "-"
            if f is None
            else f"{f['says']}{' (low confidence)' if f['low_confidence'] else ''}",
        )
    console.print(table)
    posts = summary.get("social_posts")
    social = f" and {posts} Hacker News and Mastodon posts" if posts else ""
    console.print(
        f"{summary['outlets']} outlets published {summary['articles_published']} articles"
        f"{social}; {summary['fetches']} fetches over {summary['http_requests']} HTTP requests "
        f"stored {summary['new_mentions']} new mentions in {summary['seconds']} s."
    )
    console.print(f"Forecasts: {summary['forecasts']} stories with model {summary['model']}.")
    entries = [row["timeline"] for row in summary["stories"] if "timeline" in row]
    if entries:
        console.print(f"Timelines: {sum(entries)} entries for {len(entries)} stories.")
    console.print(f"Database: [bold]{escape(summary['database'])}[/]")
    commands = summary.get("commands") or []
    if commands:
        console.print("Look at it (other commands read \\[database] url of the config):")
    for command in commands:
        console.print(f"  {escape(command)}", soft_wrap=True, highlight=False)
    page = summary.get("story_page")
    review = summary.get("review")
    if page:
        console.print("See a story as its readers will: run", soft_wrap=True)
        console.print(f"  {escape(page['command'])}", soft_wrap=True, highlight=False)
        console.print(f"then open [bold]{escape(page['url'])}[/]", soft_wrap=True)
        console.print(
            f"Its forecast and timeline were approved by the editor {escape(page['editor'])}:",
            soft_wrap=True,
        )
        for entry in reversed(page["timeline"]):  # oldest first, as it happened
            when = datetime.fromisoformat(entry["at"])
            console.print(f"  {when:%Y-%m-%d %H:%M} UTC  {escape(entry['title'])}", highlight=False)
    _print_alerts(console, summary)
    _print_emerging(console, summary)
    if review:
        login = (
            f"log in as [bold]{escape(review['editor'])}[/] with the password "
            f"[bold]{escape(review['password'])}[/] (shown only now; running the demo again "
            "sets a new one)."
        )
        if page:
            console.print(
                f"Review the suggestions: with that server running, open {review['url']} and "
                + login,
                soft_wrap=True,
            )
        else:
            console.print("Review the suggestions in a browser: run", soft_wrap=True)
            console.print(f"  {escape(review['command'])}", soft_wrap=True, highlight=False)
            console.print(f"then open {review['url']} and {login}", soft_wrap=True)


def _print_alerts(console: Console, summary: dict[str, Any]) -> None:
    """What the newsroom's webhook received: the breaking story's messages in full."""
    alerts = summary.get("alerts")
    if not alerts:
        return
    received = alerts["received"]
    rule = alerts["rule"]
    if not received:
        console.print(
            f"Alerts: the {alerts['destination']} webhook received nothing new (every hour's "
            "rules had been evaluated already).",
            soft_wrap=True,
        )
        return
    slug = (summary.get("story_page") or {}).get("slug", SHOWCASE)
    mine = [m for m in received if f"/stories/{slug}" in m["message"]]
    console.print(
        f"Alerts the {alerts['destination']} webhook received: {len(received)} messages from "
        f"the rule {rule['name']} ({escape(rule['when'])}), {len(mine)} for {slug}:",
        soft_wrap=True,
        highlight=False,
    )
    for m in mine:
        console.print(f"  [bold]{escape(m['title'])}[/]", soft_wrap=True, highlight=False)
        for line in m["message"].splitlines():
            console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)


def _print_emerging(console: Console, summary: dict[str, Any]) -> None:
    """The loudest story nobody tracks, and the query noisecast suggests for it."""
    found = summary.get("emerging")
    if not found:
        return
    top = found["top"]
    if top is None:
        console.print("Emerging: no untracked story is loud enough to propose.", soft_wrap=True)
        return
    console.print(
        f"Emerging: {found['proposals']} untracked stories proposed; the loudest is "
        f"[bold]{escape(top['title'])}[/] ({top['score']:.0f}, {escape(top['level'])}; "
        f"{top['size']} mentions from {top['outlets']} outlets). Suggested query: "
        f"[bold]{escape(top['query'])}[/] (precision {top['precision']:.2f}, recall "
        f"{top['recall']:.2f}). Track it in the review app's Emerging tab, or with "
        f"`emerging track {top['id']}`.",
        soft_wrap=True,
        highlight=False,
    )
