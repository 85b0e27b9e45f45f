"""Rolling-origin backtest of the forecaster against its baselines (pure: frames in, a dict
out; :mod:`noisecast.engine.jobs.series_files` reads the CSVs).

:func:`run_backtest` fits once on the training series and scores every (series, origin) of the
scored series whose whole horizon was observed. Without a test frame the training frame is
split by time: the first 80 % of series by start time (first ``ts``) fit, the rest are scored;
fitting never sees a scored series.

Models scored (each an entry of ``models``):

- ``noisecast``: :func:`noisecast.engine.core.forecast.fit_forecaster` (the global model, or
  the cold-start fallback when the training part is too small).
- ``persistence``: ``rate * H``; P(rising) is a hard 0 (its forecast never exceeds itself).
- ``szabo_huberman``: :class:`noisecast.engine.core.baselines.SzaboHuberman`; P(rising) is a
  hard 1 when its forecast exceeds ``rate * H``, else 0.
- ``base_rate``: P(rising) = the training share that rose at the same age; no point forecast.

- ``prior`` (only when a prior is given): the prior model alone; ``noisecast`` is then the
  prior blended with the local fit (or the prior alone when the training part is too small).

``hedge_words`` (beside the spec's keys) says how often each word of the suggestions
(:data:`noisecast.engine.core.suggest.BANDS`) came true for the model's probabilities;
``by_target_size`` gives the metrics over actuals of 0, 1-9 and 10 or more
(:data:`TARGET_SIZES`): zero-heavy counts make the overall coverage hide how the interval
does on the stories that got attention.

:func:`predict_rows` gives the per-forecast rows behind these figures (for notebooks) and
:func:`coverage_table` their coverage per origin; :mod:`noisecast.engine.core._learning` the
learning curve.

Metrics (per model, over all scored samples and per origin): ``n``; ``mae_log1p`` = mean
``|log1p(p50) - log1p(actual)|``; ``median_ape`` = median ``|p50 - actual| / actual`` over
actuals >= 1; ``coverage_80`` = share of actuals in ``[p10, p90]`` (models with an interval
only) and ``coverage_80_positive`` the same over actuals >= 1; ``brier_rising`` = mean
``(p - rising)^2``; ``direction_accuracy`` = share with ``(p > 0.5) == rising``. A metric that
does not apply, or has no sample, is ``None``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.core.features import RATE, RISING, TARGET, build_features, validate_series
from noisecast.engine.core.forecast import (
    BaseRate,
    NoisecastForecaster,
    SzaboHuberman,
    _Forecaster,
    fit_forecaster,
)
from noisecast.engine.core.suggest import BANDS, hedge_word
from noisecast.engine.errors import BacktestInputError, ForecastError
from noisecast.engine.schema import ORIGIN, P10, P50, P90, P_RISING, SERIES, TS

__all__ = [
    "MODELS",
    "TARGET_SIZES",
    "coverage_table",
    "predict_rows",
    "run_backtest",
    "scored_table",
    "split_by_time",
]

MODELS = ("noisecast", "persistence", "szabo_huberman", "base_rate")
METRICS = (
    "n",
    "mae_log1p",
    "median_ape",
    "coverage_80",
    "coverage_80_positive",
    "brier_rising",
    "direction_accuracy",
)
# (label, lowest, highest) of the actual next-H total, for the metrics by target size.
TARGET_SIZES = (("0", 0.0, 0.0), ("1-9", 1.0, 9.0), (">=10", 10.0, np.inf))
ROW_COLUMNS = (
    "series",
    "origin",
    "y",
    "p10",
    "p50",
    "p90",
    "prob_rising",
    "rose",
    "word",
    "covered",
)


# --- the backtest --------------------------------------------------------------------------


def split_by_time(series: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, scored): the latest-starting ``share`` of series (by first ts, then id) scored."""
    first = series.groupby(SERIES, as_index=False)[TS].min()
    order = first.sort_values([TS, SERIES], kind="stable")[SERIES].to_numpy()
    n_scored = round(len(order) * share)
    if len(order) < 2 or n_scored < 1:
        raise BacktestInputError(
            f"cannot split {len(order)} series by time: give a test frame, or more series"
        )
    scored = series[SERIES].isin(set(order[len(order) - n_scored :]))
    return series[~scored], series[scored]


def run_backtest(
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    horizon: int = 24,
    origins: list[int] | None = None,
    prior: NoisecastForecaster | None = None,
    blend_k: float = 300.0,
) -> dict[str, Any]:
    """Fit on ``train``, score on ``test`` (or the latest 20 % of ``train``'s series).

    Returns ``{"horizon": H, "models": {name: metrics}, "by_origin": [{"origin": o, "models":
    {name: metrics}}], "by_target_size": [{"target": label, "models": ...}], "hedge_words":
    ...}`` with the models of :data:`MODELS` (and ``prior`` when one is given) and the metrics
    of the module docstring. ``origins``: ages in hours to score (default every hour);
    by_origin lists each of them (or each origin scored, by default). ``prior`` and
    ``blend_k`` go to :func:`noisecast.engine.core.forecast.fit_forecaster`.
    """
    if horizon < 1:
        raise BacktestInputError(f"horizon: expected at least 1 hour, got {horizon}")
    if origins is not None and any(int(o) < 1 for o in origins):
        raise BacktestInputError(f"origins: expected hours of at least 1, got {list(origins)}")
    train = _valid(train, "train")
    if test is None:
        train, test = split_by_time(train)
    else:
        test = _valid(test, "test")
        shared = set(train[SERIES]) & set(test[SERIES])
        if shared:
            some = ", ".join(sorted(map(str, shared))[:5])
            raise BacktestInputError(
                f"test: {len(shared)} series also in train ({some}); fitting must never see a "
                "scored series: remove them from one side"
            )
    scored = scored_table(test, horizon, origins)
    table = build_features(train, horizon)
    model = fit_forecaster(table, horizon, prior=prior, blend_k=blend_k)
    forecast = model.predict_table(scored)
    scaling = SzaboHuberman().fit(table)
    base = BaseRate().fit(table)

    threshold = scored[RATE].to_numpy(float) * horizon
    sh_point = scaling.predict(scored)
    predictions = {
        "noisecast": (
            forecast[P50].to_numpy(float),
            forecast[P10].to_numpy(float),
            forecast[P90].to_numpy(float),
            forecast[P_RISING].to_numpy(float),
        ),
        "persistence": (threshold, None, None, np.zeros(len(scored))),
        "szabo_huberman": (sh_point, None, None, (sh_point > threshold).astype(float)),
        "base_rate": (None, None, None, base.predict_proba(scored)),
    }
    if prior is not None:
        alone = prior.predict_table(scored)
        predictions["prior"] = tuple(alone[c].to_numpy(float) for c in (P50, P10, P90, P_RISING))
    actual = scored[TARGET].to_numpy(float)
    rising = scored[RISING].to_numpy(float)
    ages = scored[ORIGIN].to_numpy(np.int64)
    wanted = sorted(set(int(o) for o in origins)) if origins is not None else np.unique(ages)

    def metrics(mask: npt.NDArray[np.bool_]) -> dict[str, dict[str, Any]]:
        return {
            name: _metrics(actual[mask], rising[mask], *(_take(a, mask) for a in arrays))
            for name, arrays in predictions.items()
        }

    return {
        "horizon": horizon,
        "models": metrics(np.ones(len(scored), bool)),
        "by_origin": [{"origin": int(o), "models": metrics(ages == o)} for o in wanted],
        "by_target_size": [
            {"target": label, "models": metrics((actual >= low) & (actual <= high))}
            for label, low, high in TARGET_SIZES
        ],
        "hedge_words": hedge_word_outcomes(predictions["noisecast"][3], rising),
    }


def scored_table(test: pd.DataFrame, horizon: int = 24, origins: Any = None) -> pd.DataFrame:
    """The :func:`build_features` rows of ``test`` whose whole horizon was observed."""
    scored = build_features(test, horizon, origins)
    scored = scored[scored[TARGET].notna()].reset_index(drop=True)
    if scored.empty:
        where = "at any origin" if origins is None else f"at origins {sorted(set(origins))}"
        raise BacktestInputError(
            f"test: no scorable origin: no series has all {horizon} hours from the origin "
            f"observed {where}; give longer series, other origins or a shorter horizon"
        )
    return scored


def predict_rows(model: _Forecaster, scored: pd.DataFrame) -> pd.DataFrame:
    """One row per scored forecast of a fitted ``model`` (:data:`ROW_COLUMNS`): ``series``,
    ``origin``, ``y`` (the actual next-H total), ``p10``/``p50``/``p90``, ``prob_rising``,
    ``rose`` (1.0/0.0), ``word`` (the hedge word of the probability) and ``covered`` (``y`` in
    ``[p10, p90]``). ``scored`` is a :func:`scored_table` (rows with a target)."""
    forecast = model.predict_table(scored)
    y = scored[TARGET].to_numpy(float)
    p10, p90 = forecast[P10].to_numpy(float), forecast[P90].to_numpy(float)
    prob = forecast[P_RISING].to_numpy(float)
    return pd.DataFrame(
        {
            "series": scored[SERIES].to_numpy(),
            "origin": scored[ORIGIN].to_numpy(np.int64),
            "y": y,
            "p10": p10,
            "p50": forecast[P50].to_numpy(float),
            "p90": p90,
            "prob_rising": prob,
            "rose": scored[RISING].to_numpy(float),
            "word": [hedge_word(float(p)) for p in prob],
            "covered": (y >= p10) & (y <= p90),
        },
        columns=list(ROW_COLUMNS),
    )


def coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per origin (and ``all``) of :func:`predict_rows`' rows: ``n``, ``mae_log1p``,
    ``coverage`` (share of actuals in [p10, p90]), ``coverage_ge1`` (the same over actuals >=
    1), ``n_ge1`` and ``zero_share``."""

    def one(group: pd.DataFrame) -> dict[str, Any]:
        positive = group["y"] >= 1
        return {
            "n": len(group),
            "mae_log1p": _mean(np.abs(np.log1p(group["p50"]) - np.log1p(group["y"]))),
            "coverage": _mean(group["covered"]),
            "coverage_ge1": _mean(group.loc[positive, "covered"]) if positive.any() else None,
            "n_ge1": int(positive.sum()),
            "zero_share": _mean(group["y"] == 0),
        }

    out = [{"origin": int(o), **one(g)} for o, g in rows.groupby("origin", sort=True)]
    out.append({"origin": "all", **one(rows)})
    return pd.DataFrame(out)


def hedge_word_outcomes(
    p_rising: npt.NDArray[np.float64], rising: npt.NDArray[np.float64]
) -> dict[str, dict[str, Any]]:
    """How often each hedge word of :mod:`noisecast.engine.core.suggest` came true: per word, the
    forecasts that used it, their mean P(rising), and the share that rose (the word's claim holds
    when that share is close to the mean probability)."""
    words = np.array([hedge_word(float(p)) for p in p_rising])
    out: dict[str, dict[str, Any]] = {}
    for _, word, _ in BANDS:
        mine = words == word
        out[word] = {
            "n": int(mine.sum()),
            "mean_p_rising": _mean(p_rising[mine]) if mine.any() else None,
            "rose": _mean(rising[mine]) if mine.any() else None,
        }
    return out


def _valid(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    try:
        return validate_series(frame, what)
    except ForecastError as e:
        raise BacktestInputError(str(e)) from e


def _take(values: npt.NDArray[np.float64] | None, mask: npt.NDArray[np.bool_]) -> Any:
    return None if values is None else values[mask]


def _metrics(
    actual: npt.NDArray[np.float64],
    rising: npt.NDArray[np.float64],
    p50: npt.NDArray[np.float64] | None,
    p10: npt.NDArray[np.float64] | None,
    p90: npt.NDArray[np.float64] | None,
    p_rising: npt.NDArray[np.float64],
) -> dict[str, Any]:
    n = len(actual)
    out: dict[str, Any] = dict.fromkeys(METRICS)
    out["n"] = n
    if n == 0:
        return out
    positive = actual >= 1
    if p50 is not None:
        out["mae_log1p"] = _mean(np.abs(np.log1p(p50) - np.log1p(actual)))
        if positive.any():
            ape = np.abs(p50[positive] - actual[positive]) / actual[positive]
            out["median_ape"] = float(np.median(ape))
    if p10 is not None and p90 is not None:
        inside = (actual >= p10) & (actual <= p90)
        out["coverage_80"] = _mean(inside)
        out["coverage_80_positive"] = _mean(inside[positive]) if positive.any() else None
    out["brier_rising"] = _mean((p_rising - rising) ** 2)
    out["direction_accuracy"] = _mean((p_rising > 0.5) == (rising == 1))
    return out


def _mean(values: npt.ArrayLike) -> float:
    return float(np.mean(np.asarray(values, dtype=float)))
