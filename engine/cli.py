"""The ``noisecast`` command: a thin shell over the engine.

Exit codes: 0 ok, 1 the job failed, 2 usage or configuration error. Every command takes
``--json`` where it prints something a script may want to read.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.config import Secrets, Settings, load_settings
from engine.errors import BacktestInputError, ConfigError, NoisecastError, QueryError
from engine.logs import configure_logging
from engine.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    config: str | None
    now_override: datetime | None
    console: Console = field(default_factory=lambda: Console(stderr=False))
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def now(self) -> datetime:
        return self.now_override or datetime.now(UTC)

    @contextmanager
    def store(self, *, migrate: bool = False) -> Iterator[Store]:
        store = Store.open(self.settings.database)
        try:
            if migrate:
                store.migrate()
            else:
                store.check_schema()
            yield store
        finally:
            store.close()


def _fail(message: str, code: int) -> None:
    for line in message.splitlines() or [""]:
        click.echo(f"noisecast: {line}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Map our errors to exit codes: configuration 2, anything else that failed 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, QueryError, BacktestInputError) as e:
            _fail(str(e), 2)
        except NoisecastError as e:
            _fail(str(e), 1)

    return wrapper  # type: ignore[return-value]


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    envvar="NOISECAST_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./config.toml; env NOISECAST_CONFIG).",
)
@click.option("--log-level", default="WARNING", show_default=True, envvar="NOISECAST_LOG_LEVEL")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--now",
    callback=_parse_now,
    hidden=True,
    help="Pretend it is this UTC time (tests, backfills).",
)
@click.pass_context
def cli(
    ctx: click.Context, config: str | None, log_level: str, log_format: str, now: datetime | None
) -> None:
    """noisecast: how loud each news story is, and where its attention is heading."""
    configure_logging(log_level, log_format)
    ctx.obj = App(config=config, now_override=now)


pass_app = click.make_pass_decorator(App)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
@handle_errors
def init(app: App, as_json: bool) -> None:
    """Create or migrate the database, then load sources and stories from config."""
    from engine.catalog import sync_from_config

    with app.store(migrate=True) as store:
        report = sync_from_config(store, app.settings, now=app.now())
        where = store.engine.url.render_as_string(hide_password=True)
    result = {"database": where, **dataclasses.asdict(report)}
    if as_json:
        _print_json(result)
    else:
        app.console.print(
            f"Database ready at [bold]{where}[/]: "
            f"{report.sources_created} sources added, {report.sources_updated} updated; "
            f"{report.stories_created} stories added, {report.stories_updated} updated."
        )


# --- sources ---------------------------------------------------------------------------------


@cli.group()
def sources() -> None:
    """Feeds and other sources to collect from."""


@sources.command("add")
@click.argument("url")
@click.option("--kind", default="rss", show_default=True, help="Source kind: rss or atom.")
@click.option("--name", default=None, help="Unique name (default: the URL's host).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def sources_add(app: App, url: str, kind: str, name: str | None, as_json: bool) -> None:
    """Add a source (or update the one with this name)."""
    from engine.catalog import add_source

    with app.store() as store:
        name, created = add_source(store, app.settings, url, kind=kind, name=name, now=app.now())
    if as_json:
        _print_json({"name": name, "url": url, "kind": kind, "created": created})
    else:
        app.console.print(f"{'Added' if created else 'Updated'} source [bold]{name}[/] ({url})")


@sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def sources_list(app: App, as_json: bool) -> None:
    """List sources with their schedule and health."""
    with app.store() as store:
        rows = store.list_sources()
    keys = (
        "name",
        "kind",
        "url",
        "interval_minutes",
        "next_due_at",
        "last_fetched_at",
        "last_status",
        "failures",
        "last_error",
        "disabled_at",
        "disabled_reason",
    )
    if as_json:
        _print_json([{k: r[k] for k in keys} for r in rows])
        return
    table = Table("name", "kind", "url", "every", "next due", "last", "failures", "state")
    for r in rows:
        state = (
            f"[red]disabled[/]: {r['disabled_reason']}"
            if r["disabled_at"]
            else (r["last_error"] or "ok")
        )
        table.add_row(
            r["name"],
            r["kind"],
            r["url"],
            f"{r['interval_minutes']} min",
            _when(r["next_due_at"]),
            str(r["last_status"] or "-"),
            f"{r['failures']:g}",
            state,
        )
    app.console.print(table)


@sources.command("disable")
@click.argument("name")
@click.option("--reason", default="disabled by hand", show_default=True)
@pass_app
@handle_errors
def sources_disable(app: App, name: str, reason: str) -> None:
    """Stop collecting from a source (its mentions stay)."""
    with app.store() as store:
        store.disable_source(name, reason=reason, now=app.now())
    app.console.print(f"Disabled source [bold]{name}[/].")


# --- stories ---------------------------------------------------------------------------------


@cli.group()
def stories() -> None:
    """Stories the newsroom tracks, each with its query."""


@stories.command("add")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--query", required=True, help="Boolean query, e.g. '\"port strike\" OR dockers'.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def stories_add(app: App, slug: str, title: str, query: str, as_json: bool) -> None:
    """Add a story (or update and reactivate the one with this slug)."""
    from engine.catalog import add_story

    with app.store() as store:
        created = add_story(store, app.settings, slug, title, query, now=app.now())
    if as_json:
        _print_json({"slug": slug, "title": title, "query": query, "created": created})
    else:
        app.console.print(f"{'Added' if created else 'Updated'} story [bold]{slug}[/].")


@stories.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include archived stories.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def stories_list(app: App, show_all: bool, as_json: bool) -> None:
    """List stories with their mention counts."""
    with app.store() as store:
        rows = store.list_stories(None if show_all else "active")
        counts = store.mention_counts()
    if as_json:
        _print_json(
            [
                {
                    "slug": r["slug"],
                    "title": r["title"],
                    "query": r["query"],
                    "status": r["status"],
                    "mentions": counts.get(r["slug"], 0),
                }
                for r in rows
            ]
        )
        return
    table = Table("slug", "title", "query", "status", "mentions")
    for r in rows:
        table.add_row(r["slug"], r["title"], r["query"], r["status"], str(counts.get(r["slug"], 0)))
    app.console.print(table)


@stories.command("archive")
@click.argument("slug")
@pass_app
@handle_errors
def stories_archive(app: App, slug: str) -> None:
    """Stop tracking a story (its history stays)."""
    with app.store() as store:
        store.archive_story(slug, now=app.now())
    app.console.print(f"Archived story [bold]{slug}[/].")


# --- collect and status ----------------------------------------------------------------------


@cli.command()
@click.option("--source", "names", multiple=True, help="Only this source (repeatable).")
@click.option("--force", is_flag=True, help="Fetch even sources that are not due.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def collect(app: App, names: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Fetch due sources, store new mentions and match them to stories."""
    from engine.collect import collect as run_collect

    settings = app.settings
    with app.store() as store:
        for name in names:
            store.get_source(name)  # a clear error for a misspelt name
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
    if as_json:
        _print_json(report.as_dict())
    else:
        table = Table("source", "outcome", "http", "items", "new", "error")
        for r in sorted(report.sources, key=lambda r: r.source):
            table.add_row(
                r.source,
                r.outcome,
                str(r.http_status or "-"),
                str(r.items_seen),
                str(r.items_new),
                (r.error or "")[:80],
            )
        app.console.print(table)
        app.console.print(
            f"{len(report.sources)} sources fetched, {report.items_new} new mentions, "
            f"{len(report.failed)} failed."
        )
    if report.sources and len(report.failed) == len(report.sources):
        sys.exit(1)  # every source failed: the job as a whole did not work


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def status(app: App, as_json: bool) -> None:
    """Counts, the scheduler's next runs and last jobs, the last fetches, failing sources."""
    with app.store() as store:
        data = store.status(now=app.now())
        data["schedule"] = schedule_status(store, app.settings, app.now())
    if as_json:
        _print_json(data)
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
            t.add_row(f["name"], f["url"], f"{f['failures']:g}", f["last_error"] or "")
        c.print(t)
    if data["last_runs"]:
        t = Table("source", "started", "outcome", "http", "items", "new", title="Last fetches")
        for r in data["last_runs"]:
            t.add_row(
                r["source"],
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
    callback=_parse_now,
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
    from engine.noise import floor_hour, score_table, update_noise

    hour = floor_hour(as_of) if as_of else floor_hour(app.now()) - timedelta(hours=1)
    with app.store() as store:
        if slug:
            store.story_id(slug)  # a clear error for an unknown story
        update_noise(
            store, app.settings, start=hour, end=hour + timedelta(hours=1), rebuild=rebuild
        )
        rows = score_table(store, hour, slug=slug)
    if as_json:
        _print_json(rows)
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
    callback=_parse_now,
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
    from engine.forecasting import update_forecasts
    from engine.noise import floor_hour

    hour = floor_hour(as_of or app.now())
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
        _print_json(rows)
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


def _origins(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        origins = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected hours like 1,3,6,12, got {value!r}") from None
    if not origins or min(origins) < 1:
        raise click.BadParameter(f"expected hours of at least 1, like 1,3,6,12, got {value!r}")
    return origins


@cli.command()
@click.option(
    "--train",
    "train_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with header series,ts,value (new attention per hour; empty = not observed).",
)
@click.option(
    "--test",
    "test_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Score on these series (default: the latest-starting 20% of --train's).",
)
@click.option("--horizon", default=24, show_default=True, type=click.IntRange(1, 24 * 14))
@click.option(
    "--origins",
    callback=_origins,
    default=None,
    help="Ages in hours to forecast from, e.g. 1,3,6,12 (default: every hour).",
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def backtest(
    train_path: str,
    test_path: str | None,
    horizon: int,
    origins: list[int] | None,
    as_json: bool,
) -> None:
    """Backtest the forecaster against persistence and Szabo-Huberman on CSV series."""
    from engine.backtest import run_backtest_files

    result = run_backtest_files(train_path, test_path, horizon, origins)
    if as_json:
        _print_json(result)
        return
    console = Console()
    columns = {
        "n": "n",
        "mae_log1p": "MAE log1p",
        "median_ape": "MdAPE",
        "coverage_80": "cover 80",
        "coverage_80_positive": "cover >=1",
        "brier_rising": "Brier",
        "direction_accuracy": "direction",
    }
    table = Table(
        "origin", "model", *columns.values(), title=f"Backtest, horizon {result['horizon']}h"
    )
    table.columns[1].no_wrap = True
    sections = [("all", result["models"])] + [
        (str(o["origin"]), o["models"]) for o in result["by_origin"]
    ]
    for title, models in sections:
        for i, (name, m) in enumerate(models.items()):
            table.add_row(
                title if i == 0 else "",
                name,
                *(_metric(m.get(c)) for c in columns),
                end_section=i == len(models) - 1,
            )
    console.print(table)


def _metric(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


@cli.command()
@click.option("--hours", default=72, show_default=True, type=click.IntRange(1, 24 * 14))
@click.option("--seed", default=20261126, show_default=True, type=int)
@click.option(
    "--database",
    "database_url",
    default=None,
    help="Database URL for the demo (default: sqlite:///var/demo.db beside the config).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@handle_errors
def demo(app: App, hours: int, seed: int, database_url: str | None, as_json: bool) -> None:
    """Simulate a news cycle offline: real feeds over loopback HTTP, through the real collector."""
    from engine.demo.run import run_demo

    result = run_demo(
        app.settings,
        hours=hours,
        seed=seed,
        database_url=database_url,
        console=app.console,
        quiet=as_json,
    )
    if as_json:
        _print_json(result)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.find_object(App)
        if app is not None:
            app.config, app._settings = value, None


def _add_config_option(group: click.Group) -> None:
    """Let ``--config PATH`` stand after any command too: ``noisecast status --config x.toml``."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _add_config_option(command)
        else:
            command.params.append(
                click.Option(
                    ["--config"],
                    type=click.Path(dir_okay=False),
                    expose_value=False,
                    callback=_set_config,
                    help="Config file (as the global --config).",
                )
            )


from engine.schedule_status import print_schedule, schedule_status  # noqa: E402
from engine.scheduler import run_command  # noqa: E402
from engine.web.commands import editors, export, serve  # noqa: E402

for _command in (run_command, serve, editors, export):
    cli.add_command(_command)

_add_config_option(cli)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def main() -> None:
    cli(prog_name="noisecast")
