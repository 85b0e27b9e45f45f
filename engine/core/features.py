"""The feature matrix for forecasting attention: one row per series and origin. Pure.

Input is the long format of :mod:`noisecast.engine.schema` (``series, ts, value`` plus optional
covariates ``outlets``, ``engagement``): ``value`` is the NEW attention in the hour starting at
``ts``; an empty value, or an absent row, means the hour was not observed. It is never read as
zero: sums and means below run over observed hours only, and a lag of an unobserved hour is
NaN (the gradient-boosting model has a native missing-value branch for it).

**Origins.** A series' hour ``k`` is ``first_ts + k`` hours, where ``first_ts`` is its first row
(observed or not). A forecast at origin ``o`` (``o >= 1``) has seen the hours ``0 .. o-1`` and
predicts the total of hours ``o .. o+H-1``. Every feature of origin ``o`` is computed from
hours ``< o`` only (no look-ahead; ``tests/test_forecast.py`` checks that changing hours
``>= o`` never changes them).

**The current rate** is defined once, here (:data:`RATE`): the mean of the observed values
over the last ``min(o, H)`` hours before the origin, 0 when none of them was observed. So
persistence (``rate * H``) is "the next H hours repeat the last H" once the series is H hours
old. *Rising* means the next-H total exceeds ``rate * H``; it is computed exactly in integer
arithmetic (``total * n_observed > window_sum * H``) so floating point never flips a tie.

``hour_of_day`` (of the origin, UTC) carries Reddit's strong daily cycle; on UCI's made-up
start times it means nothing and the model finds nothing in it. Covariates present in the
input add ``cov_<name>_log_total`` and ``cov_<name>_log_rate`` (same windows as the value).

Columns out: ``series, origin, cutoff``; the model's features (:func:`feature_columns`); and
the raw quantities the baselines and the scoring need: ``total`` (observed sum so far),
``rate``, ``target`` (next-H total, NaN unless all H hours are observed), ``rising``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from noisecast.engine.errors import ForecastError
from noisecast.engine.schema import COVARIATES, CUTOFF, ORIGIN, SERIES, TS, VALUE

__all__ = [
    "BASE_FEATURES",
    "RATE",
    "RISING",
    "SCALE_FREE_FEATURES",
    "TARGET",
    "TOTAL",
    "build_features",
    "feature_columns",
    "scale_free_features",
    "validate_series",
]

Array = npt.NDArray[np.float64]

TOTAL = "total"  # observed attention before the origin (N(o) in Szabo & Huberman)
RATE = "rate"  # the current rate, see the module docstring
TARGET = "target"  # total of hours o .. o+H-1; NaN unless every one of them was observed
RISING = "rising"  # target > rate * H (1.0 / 0.0; NaN where target is NaN)

BASE_FEATURES = (
    "age",  # o, hours since the first row
    "observed_hours",  # hours observed before o
    "observed_share",  # observed_hours / o
    "log_total",  # log1p(total so far)
    "log_rate",  # log1p(current rate)
    "lag1",  # log1p of hour o-1 (NaN if not observed), likewise lag2, lag3
    "lag2",
    "lag3",
    "log_mean3",  # log1p(mean of observed hours among the last 3), NaN if none
    "log_mean6",
    "log_mean12",
    "velocity",  # log_mean3 - log1p(mean of hours o-12 .. o-4): the last 3 hours against before
    "trend",  # lag1 - lag2
    "recent_share",  # sum of the rate window / total so far (how much is recent)
    "log_peak",  # log1p(largest hour so far)
    "since_peak",  # hours since that peak (its first occurrence)
    "since_last_observed",
    "since_first_observed",
    "log_first",  # log1p(first observed value): a catch-up lump or the first increment
    "positive_share",  # share of observed hours with attention > 0
    "since_last_positive",  # hours since the last hour with attention > 0
    "hour_of_day",  # of the origin (UTC)
)
# The features that do not change when a series' counts are multiplied by a constant: hours,
# shares, and log-ratios to the series' own level (``r_*``: a log1p minus ``log_rate`` or
# ``log_total``, so exact only for counts well above 1). No level, and no hour of day (a
# public data set's clock is not a newsroom's). The prior model of noisecast.engine.core.prior
# is fitted on these, so that a newsroom's mention counts can use what Facebook shares taught.
SCALE_FREE_FEATURES = (
    "age",
    "observed_hours",
    "observed_share",
    "since_peak",
    "since_last_observed",
    "since_first_observed",
    "since_last_positive",
    "positive_share",
    "recent_share",
    "velocity",
    "trend",
    "r_lag1",  # lag1 - log_rate, likewise lag2, lag3 and the 3/6/12-hour means
    "r_lag2",
    "r_lag3",
    "r_mean3",
    "r_mean6",
    "r_mean12",
    "r_peak",  # log_peak - log_total
    "r_first",  # log_first - log_total
    "r_rate",  # log_rate - log_total
)
_MAX_CELLS = 4_000_000  # series x hours per block, to bound memory for long-lived series


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model's input columns of a :func:`build_features` table (covariates if present)."""
    extra = [c for c in frame.columns if c.startswith("cov_")]
    return [*BASE_FEATURES, *extra]


def scale_free_features(table: pd.DataFrame) -> pd.DataFrame:
    """The :data:`SCALE_FREE_FEATURES` of a :func:`build_features` table (same index)."""
    rate, total = table["log_rate"], table["log_total"]
    ratios = {
        "r_lag1": table["lag1"] - rate,
        "r_lag2": table["lag2"] - rate,
        "r_lag3": table["lag3"] - rate,
        "r_mean3": table["log_mean3"] - rate,
        "r_mean6": table["log_mean6"] - rate,
        "r_mean12": table["log_mean12"] - rate,
        "r_peak": table["log_peak"] - total,
        "r_first": table["log_first"] - total,
        "r_rate": rate - total,
    }
    kept = {c: table[c] for c in SCALE_FREE_FEATURES if c not in ratios}
    return pd.DataFrame({**kept, **ratios}, index=table.index)[list(SCALE_FREE_FEATURES)]


def validate_series(series: pd.DataFrame, what: str = "series frame") -> pd.DataFrame:
    """Check the long format and return a tidy copy: sorted, ``value`` float, ts UTC hours.

    Raises :class:`ForecastError` naming the frame and the problem (missing columns, a naive
    or non-hour ``ts``, negative values, duplicate (series, ts) rows).
    """
    missing = [c for c in (SERIES, TS, VALUE) if c not in series.columns]
    if missing:
        raise ForecastError(f"{what}: missing column(s) {', '.join(missing)}")
    ts = series[TS]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise ForecastError(f"{what}: {TS} must be timezone-aware UTC timestamps")
    ts = ts.dt.tz_convert("UTC")
    if (ts != ts.dt.floor("h")).any():
        raise ForecastError(f"{what}: {TS} must be whole hours (the start of each hour)")
    keep = [SERIES, TS, VALUE, *(c for c in COVARIATES if c in series.columns)]
    out = series.loc[:, keep].assign(**{TS: ts})
    for column in keep[2:]:
        try:
            out[column] = pd.to_numeric(out[column], errors="raise").astype(float)
        except (TypeError, ValueError) as e:
            raise ForecastError(f"{what}: {column} must be numbers ({e})") from e
        bad = (out[column] < 0) | np.isinf(out[column])
        if bad.any():
            raise ForecastError(
                f"{what}: {column} must be finite and >= 0 (NEW attention per hour)"
            )
    if out.duplicated([SERIES, TS]).any():
        raise ForecastError(f"{what}: duplicate ({SERIES}, {TS}) rows; aggregate them first")
    return out.sort_values([SERIES, TS], kind="stable").reset_index(drop=True)


def build_features(
    series: pd.DataFrame, horizon: int = 24, origins: Sequence[int] | None = None
) -> pd.DataFrame:
    """One row per (series, origin): features, ``total``, ``rate``, ``target``, ``rising``.

    ``origins`` are ages in hours; default every ``o`` from 1 to the series' length (the last
    one has seen every row: the origin of a live forecast, with no target). Origins past a
    series' length are skipped for that series.
    """
    if horizon < 1:
        raise ForecastError(f"horizon: expected at least 1 hour, got {horizon}")
    if origins is not None and any(int(o) < 1 for o in origins):
        raise ForecastError("origins: expected ages of at least 1 hour (o = 0 has seen nothing)")
    tidy = validate_series(series)
    covariates = [c for c in COVARIATES if c in tidy.columns]
    if tidy.empty:
        return _empty(covariates)
    first = tidy.groupby(SERIES, sort=True)[TS].transform("min")
    age = ((tidy[TS] - first) // pd.Timedelta(hours=1)).to_numpy(np.int64)
    codes, names = pd.factorize(tidy[SERIES], sort=True)
    length = np.zeros(len(names), np.int64)
    np.maximum.at(length, codes, age + 1)
    starts = pd.DatetimeIndex(tidy.groupby(SERIES, sort=True)[TS].min())
    blocks = []
    order = np.argsort(length, kind="stable")
    for members in _blocks(order, length, horizon):
        blocks.append(
            _block(tidy, codes, age, members, length, names, starts, horizon, origins, covariates)
        )
    out = pd.concat(blocks, ignore_index=True)
    return out.sort_values([SERIES, ORIGIN], kind="stable").reset_index(drop=True)


def _blocks(
    order: npt.NDArray[np.intp], length: npt.NDArray[np.int64], horizon: int
) -> list[npt.NDArray[np.intp]]:
    """Runs of series (sorted by length) whose dense grid stays under ``_MAX_CELLS``."""
    out: list[npt.NDArray[np.intp]] = []
    current: list[int] = []
    for i in order:
        width = int(length[i]) + horizon + 1
        if current and (len(current) + 1) * width > _MAX_CELLS:
            out.append(np.array(current))
            current = []
        current.append(i)
    if current:
        out.append(np.array(current))
    return out


def _block(
    tidy: pd.DataFrame,
    codes: npt.NDArray[np.int64],
    age: npt.NDArray[np.int64],
    members: npt.NDArray[np.int64],
    length: npt.NDArray[np.int64],
    names: pd.Index,
    starts: pd.DatetimeIndex,
    horizon: int,
    origins: Sequence[int] | None,
    covariates: list[str],
) -> pd.DataFrame:
    """Features for one block of series, on a dense (series x hours) grid, NaN = unobserved."""
    row_of = np.full(len(names), -1)
    row_of[members] = np.arange(len(members))
    rows = row_of[codes]
    inside = rows >= 0
    width = int(length[members].max()) + horizon
    grids = {}
    for column in (VALUE, *covariates):
        grid = np.full((len(members), width), np.nan)
        grid[rows[inside], age[inside]] = tidy[column].to_numpy(float)[inside]
        grids[column] = grid
    x = grids[VALUE]

    # The (series, origin) pairs, as row indices r and ages o into the grid.
    lens = length[members]
    if origins is None:
        r = np.repeat(np.arange(len(members)), lens)
        o = np.concatenate([np.arange(1, n + 1) for n in lens])
    else:
        wanted = np.unique(np.asarray(origins, np.int64))
        r, j = np.nonzero(wanted[None, :] <= lens[:, None])
        o = wanted[j]
    seen = ~np.isnan(x)
    cum_v = _cum(np.where(seen, x, 0.0))
    cum_n = _cum(seen.astype(float))
    cols = np.arange(width)

    def window(cum: Array, w: npt.NDArray[np.int64]) -> Array:
        return cum[r, o] - cum[r, np.maximum(o - w, 0)]

    def mean_of(w: npt.NDArray[np.int64] | int) -> Array:
        w = np.broadcast_to(np.asarray(w), o.shape)
        n = window(cum_n, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, window(cum_v, w) / n, np.nan)

    total = cum_v[r, o]
    n_obs = cum_n[r, o]
    rate_w = np.minimum(o, horizon)
    rate_sum, rate_n = window(cum_v, rate_w), window(cum_n, rate_w)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(rate_n > 0, rate_sum / rate_n, 0.0)
    # Running peak (first occurrence), last and first observed hour, all strictly before o.
    running = np.fmax.accumulate(x, axis=1)
    prev = np.concatenate([np.full((len(members), 1), -np.inf), running[:, :-1]], axis=1)
    new_peak = np.where(seen & (x > np.nan_to_num(prev, nan=-np.inf)), cols, -1)
    peak_at = np.maximum.accumulate(new_peak, axis=1)[r, o - 1]
    last_at = np.maximum.accumulate(np.where(seen, cols, -1), axis=1)[r, o - 1]
    first_at = np.argmax(seen, axis=1)[r]
    anything = n_obs > 0
    positive = seen & (x > 0)
    cum_p = _cum(positive.astype(float))
    last_pos_at = np.maximum.accumulate(np.where(positive, cols, -1), axis=1)[r, o - 1]
    cutoff = starts[members][r] + pd.to_timedelta(o, unit="h")
    first_value = x[r, first_at]

    def mean_between(far: int, near: int) -> Array:
        n = cum_n[r, np.maximum(o - near, 0)] - cum_n[r, np.maximum(o - far, 0)]
        v = cum_v[r, np.maximum(o - near, 0)] - cum_v[r, np.maximum(o - far, 0)]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, v / n, np.nan)

    def lag(k: int) -> Array:
        ok = o - k >= 0
        out = np.full(o.shape, np.nan)
        out[ok] = np.log1p(x[r[ok], o[ok] - k])
        return out

    log_rate = np.log1p(rate)
    mean3 = np.log1p(mean_of(3))
    feats: dict[str, Array | npt.NDArray] = {
        "age": o.astype(float),
        "observed_hours": n_obs,
        "observed_share": n_obs / o,
        "log_total": np.log1p(total),
        "log_rate": log_rate,
        "lag1": lag(1),
        "lag2": lag(2),
        "lag3": lag(3),
        "log_mean3": mean3,
        "log_mean6": np.log1p(mean_of(6)),
        "log_mean12": np.log1p(mean_of(12)),
        "velocity": mean3 - np.log1p(mean_between(12, 3)),
        "trend": lag(1) - lag(2),
        "recent_share": np.where(total > 0, rate_sum / np.where(total > 0, total, 1.0), np.nan),
        "log_peak": np.where(anything, np.log1p(running[r, o - 1]), np.nan),
        "since_peak": np.where(anything, o - 1 - peak_at, np.nan),
        "since_last_observed": np.where(anything, o - 1 - last_at, np.nan),
        "since_first_observed": np.where(anything, o - 1 - first_at, np.nan),
        "log_first": np.where(anything, np.log1p(first_value), np.nan),
        "positive_share": np.where(anything, cum_p[r, o] / np.where(anything, n_obs, 1.0), np.nan),
        "since_last_positive": np.where(cum_p[r, o] > 0, o - 1 - last_pos_at, np.nan),
        "hour_of_day": cutoff.hour.to_numpy(float),
    }
    for column in covariates:
        grid = grids[column]
        has = ~np.isnan(grid)
        cum_c, cum_cn = _cum(np.where(has, grid, 0.0)), _cum(has.astype(float))
        n = window(cum_cn, rate_w)
        with np.errstate(invalid="ignore", divide="ignore"):
            feats[f"cov_{column}_log_total"] = np.log1p(cum_c[r, o])
            feats[f"cov_{column}_log_rate"] = np.log1p(
                np.where(n > 0, window(cum_c, rate_w) / n, 0.0)
            )

    # Targets: hours o .. o+H-1 all observed (the grid is padded with H unobserved hours).
    ahead = cum_v[r, o + horizon] - total
    complete = cum_n[r, o + horizon] - n_obs == horizon
    target = np.where(complete, ahead, np.nan)
    rises = np.where(rate_n > 0, ahead * rate_n > rate_sum * horizon, ahead > 0)
    rising = np.where(complete, rises.astype(float), np.nan)
    head = {
        SERIES: names[members][r],
        ORIGIN: o,
        CUTOFF: cutoff,
    }
    tail = {TOTAL: total, RATE: rate, TARGET: target, RISING: rising}
    return pd.DataFrame({**head, **feats, **tail})


def _cum(values: Array) -> Array:
    """Cumulative sums along hours with a leading 0: ``out[:, o]`` = sum of hours ``< o``."""
    out = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out


def _empty(covariates: list[str]) -> pd.DataFrame:
    columns = [
        *BASE_FEATURES,
        *(f"cov_{c}_{k}" for c in covariates for k in ("log_total", "log_rate")),
    ]
    head = {
        SERIES: pd.Series([], dtype=object),
        ORIGIN: pd.Series([], dtype=np.int64),
        CUTOFF: pd.Series([], dtype="datetime64[ns, UTC]"),
    }
    rest = {c: pd.Series([], dtype=float) for c in [*columns, TOTAL, RATE, TARGET, RISING]}
    return pd.DataFrame({**head, **rest})
