"""Issue 15's targets on the development data (../shared/data/series): the learning curve and
the interval coverage table, printed as Markdown (docs/forecast.md quotes them).

- Learning curve: MAE(log1p), mean-origin MAE, 80 % coverage (all, and targets >= 1) and Brier
  on the dev slice (the latest 20 % of UCI Facebook series; origins 1, 3, 6, 12; H = 24) when
  fitted on the N latest training series, for cold start, the local model, the prior alone
  (fitted on the training part only) and production (prior, or prior blended with local).
- Coverage table: the local model on the whole training part, per origin and by target size.

    python bench/forecast_prior.py [--sizes 5,10,20,50,200,all]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from noisecast.engine.core._learning import learning_curve
from noisecast.engine.core.backtest import (
    TARGET_SIZES,
    coverage_table,
    predict_rows,
    scored_table,
    split_by_time,
)
from noisecast.engine.core.features import build_features
from noisecast.engine.core.forecast import NoisecastForecaster
from noisecast.engine.core.prior import PriorForecaster
from noisecast.engine.jobs.series_files import read_series_csv

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "series"
FILE = DATA / "uci_facebook_palestine_hourly_dev.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,10,20,50,200,all")
    args = parser.parse_args()
    sizes = tuple(None if s == "all" else int(s) for s in args.sizes.split(","))
    frame = read_series_csv(FILE)
    train, test = split_by_time(frame)
    table = build_features(train, 24)
    prior = PriorForecaster(24).fit_table(table)

    curve = learning_curve(frame, sizes=sizes, prior=prior)
    columns = ["mae", "mean_origin_mae", "coverage", "coverage_ge1", "brier"]
    agg = curve.groupby(["n_series", "model"])[columns].agg(["mean", "count"])
    print(
        "| N local series | model | reps | MAE log1p | mean-origin MAE | cov80 | cov80 (≥1) "
        "| Brier |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (n, model), row in agg.iterrows():
        values = " | ".join(f"{row[(c, 'mean')]:.3f}" for c in columns)
        print(f"| {n} | {model} | {int(row[('mae', 'count')])} | {values} |")

    scored = scored_table(test, 24, [1, 3, 6, 12])
    rows = predict_rows(NoisecastForecaster(24).fit_table(table), scored)
    print("\n| origin | n | zero share | MAE log1p | coverage | coverage (≥1) |")
    print("|---|---|---|---|---|---|")
    for r in coverage_table(rows).itertuples():
        print(
            f"| {r.origin} | {r.n} | {r.zero_share:.2f} | {r.mae_log1p:.3f} | "
            f"{r.coverage:.3f} | {r.coverage_ge1:.3f} |"
        )
    print("\n| target | n | coverage |")
    print("|---|---|---|")
    for label, low, high in TARGET_SIZES:
        mine = rows[(rows["y"] >= low) & (rows["y"] <= high)]
        print(f"| {label} | {len(mine)} | {mine['covered'].mean():.3f} |")
    print("\n| word | n | mean P | rose |")
    print("|---|---|---|---|")
    for word, group in rows.groupby("word"):
        print(
            f"| {word} | {len(group)} | {group['prob_rising'].mean():.3f} "
            f"| {group['rose'].mean():.3f} |"
        )


if __name__ == "__main__":
    main()
