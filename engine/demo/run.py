"""``noisecast demo``: a simulated news cycle, collected hour by simulated hour, offline.

The generator (:mod:`noisecast.engine.demo.cycle`) writes the cycle; :class:`DemoFeedServer` serves
each outlet's feed on 127.0.0.1 as it stood at the simulated hour; the real collector fetches and
parses it over HTTP and stores it, exactly as it would a publisher's feed. Only the politeness
limits differ (it is our own loopback server, so no per-host gap and no jitter), and the
intervals stay between one and three hours; after the last hour every source is fetched once
more, so the table shows the whole cycle.

Running it again re-collects the same cycle into the same database: every entry is already
there, so nothing is added, which is the point.
"""

from __future__ import annotations

import shlex
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import func, select, update

from noisecast.engine.config import DatabaseSettings, Settings, SourceSettings, StorySettings
from noisecast.engine.demo.cycle import NewsCycle, generate_cycle
from noisecast.engine.demo.server import DemoFeedServer
from noisecast.engine.jobs.catalog import sync_from_config
from noisecast.engine.jobs.collect import collect
from noisecast.engine.jobs.forecasting import update_forecasts
from noisecast.engine.jobs.noise import update_noise
from noisecast.engine.store import Store
from noisecast.engine.store.tables import mention_time, mentions, sources, stories, story_mentions
from noisecast.engine.web.accounts import demo_review

DEMO_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


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
            "sources": tuple(
                SourceSettings(kind=o.format, name=o.slug, url=server.url_for(o))
                for o in cycle.outlets
            ),
            "stories": tuple(
                StorySettings(slug=s.slug, title=s.title, query=s.query) for s in cycle.stories
            ),
        }
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
    with DemoFeedServer(cycle) as server:
        demo = demo_settings(settings, cycle, server, url)
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
                    progress.update(task, advance=1, new=new)
                # A last sweep of every source, so the table shows the whole cycle.
                report = collect(store, demo.collector, now=now, force=True)
                fetched += len(report.sources)
                new += report.items_new
            end = DEMO_START + timedelta(hours=hours)
            noise = update_noise(store, demo, start=DEMO_START, end=end)
            outlook = update_forecasts(store, demo, now=end)
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
            where = store.engine.url.render_as_string(hide_password=True)
        finally:
            store.close()
    summary = {
        "database": where,
        "hours": hours,
        "outlets": len(cycle.outlets),
        "articles_published": len(cycle.articles),
        "fetches": fetched,
        "new_mentions": new,
        "scores": noise.scores,
        "forecasts": outlook.forecasts,
        "model": outlook.model_version,
        "http_requests": server.requests,
        "seconds": round(time.monotonic() - started, 1),
        "stories": rows,
    }
    last_hour = DEMO_START + timedelta(hours=hours - 1)
    summary["commands"] = look_commands(url, last_hour, today=datetime.now(UTC))
    summary["review"] = demo_review(url, now=DEMO_START + timedelta(hours=hours))
    if not quiet:
        _print_summary(console, summary)
    return summary


def look_commands(database_url: str, last_hour: datetime, *, today: datetime) -> list[str]:
    """The commands that look at the demo's database (not ``[database] url`` of the config).
    ``today`` sets how many days back ``stories test`` must look to reach the demo's cycle."""
    base = f"{_program()} --database {shlex.quote(database_url)}"
    days = max(7, (today - DEMO_START).days + 2)
    query = shlex.quote('dockworkers OR "port strike"')
    return [
        f"{base} status",
        f"{base} stories list",
        f"{base} sources list",
        f"{base} score --as-of {last_hour:%Y-%m-%dT%H:%MZ}",
        f"{base} stories test {query} --days {days}",
    ]


def _program() -> str:
    """How the user ran noisecast (``.venv/bin/noisecast`` from make), to repeat it."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "noisecast":
        try:
            return str(argv0.relative_to(Path.cwd()))
        except ValueError:
            return str(argv0)
    return "noisecast"


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
    console.print(
        f"{summary['outlets']} outlets published {summary['articles_published']} articles; "
        f"{summary['fetches']} fetches over {summary['http_requests']} HTTP requests stored "
        f"{summary['new_mentions']} new mentions in {summary['seconds']} s."
    )
    console.print(f"Forecasts: {summary['forecasts']} stories with model {summary['model']}.")
    console.print(f"Database: [bold]{escape(summary['database'])}[/]")
    commands = summary.get("commands") or []
    if commands:
        console.print("Look at it (other commands read \\[database] url of the config):")
    for command in commands:
        console.print(f"  {escape(command)}", soft_wrap=True, highlight=False)
    review = summary.get("review")
    if review:
        console.print("Review the suggestions in a browser: run", soft_wrap=True)
        console.print(f"  {escape(review['command'])}", soft_wrap=True, highlight=False)
        console.print(
            f"then open {review['url']} and log in as [bold]{escape(review['editor'])}[/] "
            f"with the password [bold]{escape(review['password'])}[/] (shown only now; "
            "running the demo again sets a new one).",
            soft_wrap=True,
        )
