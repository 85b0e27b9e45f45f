"""``noisecast backtest`` and ``noisecast demo``: the commands that run offline, without the
configured database (internal; :mod:`noisecast.engine.cli` assembles the commands)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from noisecast.engine.cli._common import App, handle_errors, pass_app, print_json


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


@click.command()
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
    from noisecast.engine.jobs.series_files import run_backtest_files

    result = run_backtest_files(train_path, test_path, horizon, origins)
    if as_json:
        print_json(result)
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


@click.command()
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
    from noisecast.engine.demo.run import run_demo

    result = run_demo(
        app.settings,
        hours=hours,
        seed=seed,
        database_url=database_url or app.database,
        console=app.console,
        quiet=as_json,
    )
    if as_json:
        print_json(result)
