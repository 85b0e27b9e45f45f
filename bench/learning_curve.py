"""The forecast's learning curve: how good it is with N series of local history.

Usage: ``python bench/learning_curve.py [CSV] [--sizes 5,10,20,50,200,all] [--png PATH]``

On the UCI Facebook development series (``../shared/data/series``, by default), split by time
as the backtest splits them (the latest 20 % of series by start are scored at origins 1, 3, 6
and 12, horizon 24), :func:`noisecast.engine.core._learning.learning_curve` fits each model on
the N latest-starting training series before the scored slice; below all, several disjoint
blocks of N series give a spread (the reps of ``DEFAULT_REPS``). Models:

- ``cold_start``: the cold-start forecaster (what a new install had before issue 15);
- ``local``: the global model fitted on the N series only, forced (the pre-issue-15 production
  model from 20 series on);
- ``prior``: the scale-free prior, fitted here on the training part only (never on a scored
  series; the bundled prior is fitted on every development series, so it cannot be scored on
  this slice);
- ``production``: what ``fit_forecaster`` gives with that prior: the prior alone below its
  minimum of samples, then the prior blended with the local model, weight n / (n + 300).

Prints one row per (N, model): the mean over reps of the MAE of log1p (all scored forecasts and
its mean over the origins), with the spread (sd) across reps, the 80 % interval's coverage over
all actuals and over actuals >= 1, the Brier score of P(rising), and the MAE against cold start.
Writes the plot used by ``docs/forecast.md`` (``docs/img/learning_curve.png`` by default).
Takes about three minutes on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from noisecast.engine.core._learning import learning_curve
from noisecast.engine.core.backtest import split_by_time
from noisecast.engine.core.prior import PriorForecaster

ROOT = Path(__file__).resolve().parents[1]
SERIES_CSV = ROOT.parent / "shared" / "data" / "series" / "uci_facebook_palestine_hourly_dev.csv"
PNG = ROOT / "docs" / "img" / "learning_curve.png"
ORIGINS = (1, 3, 6, 12)
HORIZON = 24
SHARE = 0.2
MAE_TOP = 1.3  # the MAE axis stops here; higher points are written in
# model: (label in the plot, colour, marker)
STYLE = {
    "cold_start": ("cold start (before issue 15)", "tab:grey", "s"),
    "local": ("local model only", "tab:orange", "o"),
    "prior": ("public-data prior alone", "tab:green", None),
    "production": ("production: prior, blended with local", "tab:blue", "D"),
}


def read_series(path: Path) -> pd.DataFrame:
    if not path.is_file():
        sys.exit(f"{path}: no such file (the default needs ../shared/data beside the repository)")
    return pd.read_csv(path, parse_dates=["ts"])


def summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean (and sd of the MAE) over reps per (n_series, model), with the MAE against cold
    start at the same N."""
    grouped = curve.groupby(["n_series", "model"], sort=True)
    out = grouped[["mae", "mean_origin_mae", "coverage", "coverage_ge1", "brier"]].mean()
    out["mae_sd"] = grouped["mae"].std(ddof=1)
    out["reps"] = grouped.size()
    cold = out.xs("cold_start", level="model")["mae"]
    out["vs_cold_start"] = out["mae"] / cold.reindex(out.index.get_level_values(0)).to_numpy() - 1
    order = {name: i for i, name in enumerate(STYLE)}
    out = out.reset_index()
    out["_order"] = out["model"].map(order)
    return out.sort_values(["n_series", "_order"]).drop(columns="_order").reset_index(drop=True)


def markdown(table: pd.DataFrame, n_all: int) -> str:
    lines = [
        "| local series | model | MAE log1p (sd) | mean-origin MAE | vs cold start "
        "| cov80 | cov80 (>=1) | Brier | reps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        n = f"all {n_all:,}" if row.n_series == n_all else str(row.n_series)
        sd = "" if np.isnan(row.mae_sd) else f" ({row.mae_sd:.3f})"
        lines.append(
            f"| {n} | {row.model} | {row.mae:.3f}{sd} | {row.mean_origin_mae:.3f} "
            f"| {row.vs_cold_start:+.1%} | {row.coverage:.3f} | {row.coverage_ge1:.3f} "
            f"| {row.brier:.3f} | {row.reps} |"
        )
    return "\n".join(lines)


def plot(table: pd.DataFrame, n_all: int, n_scored: int, path: Path) -> None:
    """MAE, coverage and coverage on actuals >= 1 against the number of local series."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    panels = (
        ("mae", "MAE of log1p(next 24 h), lower is better"),
        ("coverage", "80% interval coverage, all actuals"),
        ("coverage_ge1", "80% interval coverage, actuals >= 1"),
    )
    sizes = sorted(table["n_series"].unique())
    for ax, (column, title) in zip(axes, panels, strict=True):
        for model, (label, colour, marker) in STYLE.items():
            mine = table[table["model"] == model].set_index("n_series").reindex(sizes)
            if mine[column].isna().all():
                continue
            if model == "prior":  # the same forecasts at every N: a reference line
                ax.axhline(mine[column].iloc[0], color=colour, linestyle="--", label=label)
                continue
            err = mine["mae_sd"].fillna(0) if column == "mae" else None
            ax.errorbar(
                sizes, mine[column], yerr=err, color=colour, marker=marker, label=label, capsize=3
            )
            if column == "mae":  # the local model's first points are far off: say so
                for n, value in mine[column].items():
                    if value > MAE_TOP:
                        ax.annotate(
                            f"{value:.2f} (off scale)",
                            (n, MAE_TOP),
                            xytext=(16, -14),
                            textcoords="offset points",
                            ha="left",
                            fontsize=8,
                            color=colour,
                            arrowprops={"arrowstyle": "->", "color": colour},
                        )
        if column == "mae":
            ax.set_ylim(0.7, MAE_TOP)
            ax.set_ylabel("MAE of log1p (0.69: typically off by x2)")
        else:
            ax.axhspan(0.75, 0.85, color="tab:green", alpha=0.1, label="target 0.80 +- 0.05")
            ax.axhline(0.80, color="black", linewidth=0.6)
            ax.set_ylabel("share of actuals inside p10-p90")
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([f"all\n{n:,}" if n == n_all else str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("local training series (stories)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.88, color="tab:red", linestyle=":", label="ceiling 0.88 (issue 15)")
    axes[0].legend(fontsize=8, loc="upper right")
    handles, labels = axes[1].get_legend_handles_labels()
    keep = [i for i, label in enumerate(labels) if "target" in label or "ceiling" in label]
    axes[1].legend(
        [handles[i] for i in keep], [labels[i] for i in keep], fontsize=8, loc="lower right"
    )
    fig.suptitle(
        "Learning curve on the UCI Facebook development slice "
        f"(scored: the latest {n_scored:,} series; error bars: sd over blocks of N series)",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="?", type=Path, default=SERIES_CSV)
    parser.add_argument("--sizes", default="5,10,20,50,200,all")
    parser.add_argument("--png", type=Path, default=PNG)
    args = parser.parse_args(argv)
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    series = read_series(args.csv)
    start = time.perf_counter()
    train, test = split_by_time(series, SHARE)
    prior = PriorForecaster(HORIZON).fit(train)
    curve = learning_curve(
        series, sizes, prior=prior, horizon=HORIZON, origins=ORIGINS, share=SHARE
    )
    n_all = train["series"].nunique()
    table = summary(curve)
    print(f"{args.csv.name}: {n_all:,} training series, scored at origins {ORIGINS}")
    print(markdown(table, n_all))
    plot(table, n_all, test["series"].nunique(), args.png)
    print(f"wrote {args.png} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
