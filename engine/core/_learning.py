"""The learning curve: how good the forecast is with N series of local history. Pure.

On a fixed scored slice (the latest ``share`` of series by start time, as
:func:`noisecast.engine.core.backtest.split_by_time` splits them), fit on the N latest-starting
training series before the slice and score at ``origins``. For small N, ``reps`` disjoint
consecutive blocks of N series (the nearest before the slice first) give a spread. Models:

- ``cold_start``: :class:`noisecast.engine.core.forecast.ColdStartForecaster` on the N series;
- ``local``: :class:`noisecast.engine.core.forecast.NoisecastForecaster` forced on them (no
  fallback; skipped where it cannot fit);
- ``prior`` (when given): the prior alone, the same on every row;
- ``production``: what :func:`noisecast.engine.core.forecast.fit_forecaster` returns with the
  prior (prior below ``min_train_samples``, else blended with weight ``n / (n + blend_k)``).

The prior must not have seen the scored series: fit it on the training part only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core.backtest import (
    coverage_table,
    predict_rows,
    scored_table,
    split_by_time,
)
from noisecast.engine.core.features import build_features
from noisecast.engine.core.forecast import (
    ColdStartForecaster,
    NoisecastForecaster,
    _Forecaster,
    fit_forecaster,
)
from noisecast.engine.errors import ForecastError
from noisecast.engine.schema import SERIES, TS

__all__ = ["LEARNING_COLUMNS", "learning_curve", "series_by_start"]

LEARNING_COLUMNS = (
    "n_series",
    "model",
    "rep",
    "mae",
    "mean_origin_mae",
    "coverage",
    "coverage_ge1",
    "brier",
)
DEFAULT_REPS = {5: 5, 10: 5, 20: 5, 50: 5, 200: 3}


def series_by_start(series: pd.DataFrame) -> npt.NDArray[Any]:
    """Series ids ordered by their first ``ts`` (ties by id)."""
    first = series.groupby(SERIES, as_index=False)[TS].min()
    return first.sort_values([TS, SERIES], kind="stable")[SERIES].to_numpy()


def learning_curve(
    series_frame: pd.DataFrame,
    sizes: Sequence[int | None] = (5, 10, 20, 50, 200, None),
    prior: NoisecastForecaster | None = None,
    reps: dict[int, int] | int | None = None,
    horizon: int = 24,
    origins: Sequence[int] = (1, 3, 6, 12),
    share: float = 0.2,
    blend_k: float = 300.0,
    min_train_samples: int = 200,
) -> pd.DataFrame:
    """One row per (size, model, rep) (:data:`LEARNING_COLUMNS`): ``n_series`` (``None`` in
    ``sizes`` means every training series), ``mae`` (MAE of log1p over all scored forecasts),
    ``mean_origin_mae`` (its mean over the origins), ``coverage`` and ``coverage_ge1`` (80 %
    interval, all actuals and actuals >= 1) and ``brier`` (of P(rising)).

    ``reps``: blocks per size (a dict, or one number for every size below all); default
    :data:`DEFAULT_REPS`, one for sizes not in it.
    """
    train, test = split_by_time(series_frame, share)
    scored = scored_table(test, horizon, list(origins))
    order = series_by_start(train)
    table_all = build_features(train, horizon)
    rows: list[dict[str, Any]] = []
    prior_score = _score(prior, scored) if prior is not None else None
    for size in sizes:
        n = len(order) if size is None or size >= len(order) else int(size)
        if size is None or n == len(order):
            n_reps = 1
        elif isinstance(reps, int):
            n_reps = reps
        else:
            n_reps = (reps if reps is not None else DEFAULT_REPS).get(n, 1)
        n_reps = max(1, min(n_reps, len(order) // max(n, 1)))
        for rep in range(n_reps):
            pick = set(order[len(order) - n * (rep + 1) : len(order) - n * rep])
            table = table_all[table_all[SERIES].isin(pick)]
            models: dict[str, _Forecaster] = {
                "cold_start": ColdStartForecaster(horizon).fit_table(table)
            }
            with contextlib.suppress(ForecastError):  # too few series: no local model
                models["local"] = NoisecastForecaster(horizon).fit_table(table)
            if prior is not None:
                models["production"] = fit_forecaster(
                    table, horizon, min_train_samples, prior=prior, blend_k=blend_k
                )
            for name, model in models.items():
                rows.append({"n_series": n, "model": name, "rep": rep, **_score(model, scored)})
            if prior_score is not None:
                rows.append({"n_series": n, "model": "prior", "rep": rep, **prior_score})
    return pd.DataFrame(rows, columns=list(LEARNING_COLUMNS))


def _score(model: _Forecaster, scored: pd.DataFrame) -> dict[str, float | None]:
    rows = predict_rows(model, scored)
    table = coverage_table(rows)
    overall = table[table["origin"] == "all"].iloc[0]
    per_origin = table[table["origin"] != "all"]
    return {
        "mae": float(overall["mae_log1p"]),
        "mean_origin_mae": float(per_origin["mae_log1p"].mean()),
        "coverage": float(overall["coverage"]),
        "coverage_ge1": None if overall["coverage_ge1"] is None else float(overall["coverage_ge1"]),
        "brier": float(np.mean((rows["prob_rising"] - rows["rose"]) ** 2)),
    }
