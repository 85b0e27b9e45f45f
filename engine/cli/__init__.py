"""The ``noisecast`` command: a thin shell over the engine.

Exit codes: 0 ok, 1 the job failed, 2 usage or configuration error. Every command takes
``--json`` where it prints something a script may want to read.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from noisecast.engine.cli._common import (
    App,
    fail,
    handle_errors,
    last_completed_hour,
    parse_time,
    pass_app,
    print_json,
    safe,
)
from noisecast.engine.cli.alerts import alerts
from noisecast.engine.cli.catalog import sources, stories
from noisecast.engine.cli.emerging import emerging
from noisecast.engine.cli.offline import backtest, demo
from noisecast.engine.cli.run import run_command
from noisecast.engine.cli.web import editors, export, serve
from noisecast.engine.config import Secrets
from noisecast.engine.jobs.schedule_status import print_schedule, schedule_status
from noisecast.engine.logs import configure_logging
from noisecast.engine.store._sources import REMOVED
from noisecast.feeds.text import printable

__all__ = ["App", "cli", "handle_errors", "main"]

_DATABASE_HELP = (
    "Database URL (overrides [database] url of the config; env NOISECAST_DATABASE_URL)."
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("noisecast")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="noisecast", message="%(prog)s %(version)s")
@click.option(
    "--config",
    "config",
    envvar="NOISECAST_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./config.toml; env NOISECAST_CONFIG).",
)
@click.option("--database", "database", default=None, help=_DATABASE_HELP)
@click.option("--log-level", default="WARNING", show_default=True, envvar="NOISECAST_LOG_LEVEL")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--now",
    callback=parse_time,
    hidden=True,
    help="Pretend it is this UTC time (tests, backfills).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config: str | None,
    database: str | None,
    log_level: str,
    log_format: str,
    now: datetime | None,
) -> None:
    """noisecast: how loud each news story is, and where its attention is heading."""
    configure_logging(log_level, log_format)
    ctx.obj = App(config=config, now_override=now, database=database)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
@handle_errors
def init(app: App, as_json: bool) -> None:
    """Create or migrate the database, then load sources and stories from config."""
    from noisecast.engine.jobs.catalog import sync_from_config

    with app.store(migrate=True) as store:
        report = sync_from_config(store, app.settings, now=app.now())
        where = store.engine.url.render_as_string(hide_password=True)
    result = {"database": where, **dataclasses.asdict(report)}
    if as_json:
        print_json(result)
    else:
        app.console.print(
            f"Database ready at [bold]{where}[/]: "
            f"{report.sources_created} sources added, {report.sources_updated} updated; "
            f"{report.stories_created} stories added, {report.stories_updated} updated."
        )
        if report.sources_removed:
            app.console.print(
                f"{report.sources_removed} sources of the config were removed with `noisecast "
                "sources remove` and stay removed (`noisecast sources enable NAME` brings one "
                "back)."
            )


# --- collect and status ----------------------------------------------------------------------


@cli.command()
@click.option("--source", "names", multiple=True, help="Only this source (repeatable).")
@click.option("--force", is_flag=True, help="Fetch even sources that are not due.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def collect(app: App, names: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Fetch due sources, store new mentions and match them to stories."""
    from noisecast.engine.jobs.collect import collect as run_collect

    settings = app.settings
    with app.store() as store:
        for name in names:
            _check_collectable(store.get_source(name))  # a misspelt or disabled source
        with Progress(
            TextColumn("[bold]collect[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task("collect", total=None, last="")
            report = run_collect(
                store,
                settings.collector,
                now=app.now(),
                names=list(names) or None,
                force=force or bool(names),
                secrets=Secrets.from_env(),  # Reddit credentials: environment or secrets file
                on_start=lambda n: progress.update(task, total=n),
                on_done=lambda r: progress.update(task, advance=1, last=r.source),
            )
        if report.items_new:  # every stored mention joins an event cluster (issue 14)
            from noisecast.engine.jobs.emerging import cluster_after_collection

            cluster_after_collection(store, settings, now=app.now())
    if as_json:
        print_json(report.as_dict())
    else:
        table = Table("source", "outcome", "http", "items", "new", "error")
        for r in sorted(report.sources, key=lambda r: r.source):
            table.add_row(
                safe(r.source),
                r.outcome,
                str(r.http_status or "-"),
                str(r.items_seen),
                str(r.items_new),
                safe((r.error or "")[:80]),
            )
        app.console.print(table)
        app.console.print(
            f"{len(report.sources)} sources fetched, {report.items_new} new mentions, "
            f"{len(report.failed)} failed."
        )
    if report.sources and len(report.failed) == len(report.sources):
        sys.exit(1)  # every source failed: the job as a whole did not work


def _check_collectable(source: dict[str, Any]) -> None:
    name = source["name"]
    if source["disabled_reason"] == REMOVED:
        fail(
            f"source {name!r} was removed: `noisecast sources enable {name}` to collect "
            "from it again",
            1,
        )
    if source["disabled_at"] is not None:
        fail(
            f"source {name!r} is disabled since {source['disabled_at']:%Y-%m-%d %H:%M} UTC "
            f"({printable(source['disabled_reason'] or 'no reason given')}): "
            f"`noisecast sources enable {name}` to collect from it again",
            1,
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def status(app: App, as_json: bool) -> None:
    """Counts, the scheduler's next runs and last jobs, the last fetches, failing sources and
    failing alert destinations."""
    with app.store() as store:
        data = store.status(now=app.now())
        data["schedule"] = schedule_status(store, app.settings, app.now())
        data["alert_destinations"] = store.destination_health(
            now=app.now(), failing_after=app.settings.alerts.failing_after
        )
    if as_json:
        print_json(data)
        return
    c = app.console
    c.print(
        f"[bold]{data['stories']}[/] active stories, [bold]{data['sources']}[/] sources "
        f"({data['sources_disabled']} disabled, {data['sources_due']} due), "
        f"[bold]{data['mentions']}[/] mentions, {data['fetches']} fetches. "
        f"Next due: {data['next_due_at'] or '-'}"
    )
    print_schedule(c, data["schedule"])
    if data["failing_sources"]:
        t = Table("failing source", "url", "failures", "last error", title="Failing sources")
        for f in data["failing_sources"]:
            t.add_row(safe(f["name"]), safe(f["url"]), f"{f['failures']:g}", safe(f["last_error"]))
        c.print(t)
    failing = [d for d in data["alert_destinations"] if d["failing"]]
    if failing:
        t = Table(
            "destination",
            "waiting",
            "given up",
            "failures in a row",
            "last error",
            title="Failing alert destinations",
        )
        for d in failing:
            t.add_row(
                safe(d["destination"]),
                str(d["pending"]),
                str(d["failed"]),
                str(d["consecutive_failures"]),
                safe(d["last_error"] or "-"),
            )
        c.print(t)
    if data["last_runs"]:
        t = Table("source", "started", "outcome", "http", "items", "new", title="Last fetches")
        for r in data["last_runs"]:
            t.add_row(
                safe(r["source"]),
                r["started_at"],
                r["outcome"],
                str(r["http_status"] or "-"),
                str(r["items_seen"]),
                str(r["items_new"]),
            )
        c.print(t)


@cli.command()
@click.option(
    "--as-of",
    "as_of",
    callback=parse_time,
    default=None,
    help="The hour to score (ISO time; default: the last completed hour).",
)
@click.option("--story", "slug", default=None, help="Only this story.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Recompute the hourly rows the score reads from the stored mentions, instead of "
    "applying only the changes logged since the last run.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def score(app: App, as_of: datetime | None, slug: str | None, rebuild: bool, as_json: bool) -> None:
    """Score every active story's noise level (0-100) for an hour, and show it."""
    from noisecast.engine.jobs.noise import score_table, update_noise
    from noisecast.engine.schema import floor_hour

    last = last_completed_hour(app.now())
    hour = floor_hour(as_of) if as_of else last
    if hour > last:
        fail(_future(as_of, last, "only a completed hour can be scored"), 2)
    with app.store() as store:
        if slug:
            store.story_id(slug)  # a clear error for an unknown story
        update_noise(
            store, app.settings, start=hour, end=hour + timedelta(hours=1), rebuild=rebuild
        )
        rows = score_table(store, hour, slug=slug)
    if as_json:
        print_json(rows)
        return
    table = Table("story", "score", "level", "change 24h", "top component", "health")
    for r in rows:
        change = r["change_24h"]
        table.add_row(
            r["story"],
            f"{r['score']:.0f}",
            r["level"],
            "-" if change is None else f"{change:+.0f}",
            r["top_component"] or "-",
            "unhealthy" if r["health"]["unhealthy"] else "ok",
        )
    app.console.print(table)
    app.console.print(
        f"as of {hour.isoformat()} (the hour ending {hour + timedelta(hours=1):%H:%M} UTC)"
    )


@cli.command()
@click.option(
    "--as-of",
    "as_of",
    callback=parse_time,
    default=None,
    help="Forecast from this hour (ISO time; default: the current hour).",
)
@click.option("--refit", is_flag=True, help="Fit a new model first, whatever its age.")
@click.option("--story", "slug", default=None, help="Only show this story.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def forecast(
    app: App, as_of: datetime | None, refit: bool, slug: str | None, as_json: bool
) -> None:
    """Forecast every active story's next hours and queue the suggestions for review."""
    from noisecast.engine.jobs.forecasting import update_forecasts
    from noisecast.engine.schema import floor_hour

    hour = floor_hour(as_of or app.now())
    last = last_completed_hour(app.now())
    if hour > last + timedelta(hours=1):
        fail(_future(as_of, last, "a forecast starts from the end of a completed hour"), 2)
    with app.store() as store:
        if slug:
            store.story_id(slug)  # a clear error for an unknown story
        report = update_forecasts(store, app.settings, now=hour, refit=refit)
        frame = store.forecasts_frame(since=hour, until=hour + timedelta(hours=1), story=slug)
    rows = [
        {
            "story": r.story,
            "as_of": r.as_of.isoformat(),
            "horizon_hours": int(r.horizon_hours),
            "p10": float(r.p10),
            "p50": round(float(r.p50), 2),
            "p90": float(r.p90),
            "prob_rising": round(float(r.prob_rising), 4),
            "hedge_word": r.hedge_word,
            "low_confidence": bool(r.low_confidence),
            "confidence_note": r.confidence_note,
            "model_version": r.model_version,
            "status": r.status,
            "suggested_text": r.suggested_text,
        }
        for r in frame.sort_values("p50", ascending=False).itertuples()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("story", "next 24h (p10-p90)", "p50", "P(rising)", "says", "confidence", "status")
    table.columns[1].header = f"next {app.settings.forecast.horizon_hours}h (p10-p90)"
    for r in rows:
        table.add_row(
            r["story"],
            f"{r['p10']:,.0f}-{r['p90']:,.0f}",
            f"{r['p50']:,.0f}",
            f"{r['prob_rising']:.2f}",
            r["hedge_word"],
            "low" if r["low_confidence"] else "normal",
            r["status"],
        )
    app.console.print(table)
    app.console.print(
        f"as of {hour.isoformat()} with model {report.model_version}"
        f"{' (refitted)' if report.refitted else ''}; {report.queued} new suggestions to review"
    )


def _future(as_of: datetime | None, last: datetime, why: str) -> str:
    given = as_of.isoformat() if as_of else "-"
    return (
        f"--as-of {given}: after the last completed hour ({last:%Y-%m-%d %H:00}-"
        f"{last + timedelta(hours=1):%H:00} UTC); {why}. Nothing was stored"
    )


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.find_object(App)
        if app is not None:
            app.config, app._settings = value, None


def _set_database(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.find_object(App)
        if app is not None:
            app.database, app._settings = value, None


def _add_common_options(group: click.Group) -> None:
    """Let ``--config PATH`` and ``--database URL`` stand after any command too:
    ``noisecast status --database sqlite:///var/demo.db``. A command with a ``--database`` of
    its own (serve, demo, ...) keeps it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _add_common_options(command)
            continue
        taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
        if "--config" not in taken:
            command.params.append(
                click.Option(
                    ["--config"],
                    type=click.Path(dir_okay=False),
                    expose_value=False,
                    callback=_set_config,
                    help="Config file (as the global --config).",
                )
            )
        if "--database" not in taken:
            command.params.append(
                click.Option(
                    ["--database"],
                    expose_value=False,
                    callback=_set_database,
                    help=_DATABASE_HELP,
                )
            )


for _command in (
    sources,
    stories,
    backtest,
    demo,
    run_command,
    serve,
    editors,
    export,
    alerts,
    emerging,
):
    cli.add_command(_command)

_add_common_options(cli)


def main() -> None:
    cli(prog_name="noisecast")
